"""Registering service providers by metadata: every refusal is clear and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from lxml import etree
from sqlalchemy import func
from sqlalchemy import select

from broker.db import ServiceProvider
from broker.errors import InputError
from broker.frontends.saml_idp import providers
from broker.keys import KeyPair
from broker.saml.metadata import idp_descriptor
from broker.saml.metadata import sp_descriptor
from broker.saml.xml import MD
from broker.saml.xml import parse
from broker.services import ServiceCatalogue
from broker.web.database import db
from broker.web.runtime import runtime
from tests.frontends.saml_idp.conftest import INKOMSTEN
from tests.frontends.saml_idp.conftest import OMZETBELASTING
from tests.frontends.saml_idp.conftest import SP_ACS
from tests.frontends.saml_idp.conftest import SP_ENTITY_ID

UNKNOWN_SERVICE = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def catalogue(seeded: None) -> ServiceCatalogue:
    return runtime().context.catalogue()


def _count() -> int:
    return int(db.session.execute(select(func.count()).select_from(ServiceProvider)).scalar_one())


def _refused(document: bytes, catalogue: ServiceCatalogue, service: str | None = INKOMSTEN,
             ) -> str:
    with pytest.raises(InputError) as caught:
        providers.register_service_provider(db.session(), metadata=document, service=service,
                                            catalogue=catalogue)
    assert _count() == 0
    return str(caught.value)


def _edited(document: bytes, edit: str) -> bytes:
    root = parse(document)
    role = root.find(MD + "SPSSODescriptor")
    assert role is not None
    if edit == "no-key":
        for node in role.findall(MD + "KeyDescriptor"):
            role.remove(node)
    elif edit == "redirect-acs":
        for node in role.findall(MD + "AssertionConsumerService"):
            node.set("Binding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
    return etree.tostring(root)


def _sp(key: KeyPair, services: list[tuple[int, str, str]] | None = None,
        valid_for: timedelta = timedelta(days=7)) -> bytes:
    return sp_descriptor(entity_id=SP_ENTITY_ID, key=key, acs_url=SP_ACS, sign=False,
                         services=[(1, "IB", INKOMSTEN)] if services is None else services,
                         valid_for=valid_for)


def test_register_valid_metadata_maps_indexes_and_default(
        catalogue: ServiceCatalogue, sp_key: KeyPair) -> None:
    row = providers.register_service_provider(
        db.session(), metadata=_sp(sp_key, [(1, "IB", INKOMSTEN), (2, "OB", OMZETBELASTING)]),
        service=OMZETBELASTING, catalogue=catalogue)
    assert row.entity_id == SP_ENTITY_ID
    assert row.services_by_index == {"1": INKOMSTEN, "2": OMZETBELASTING}
    assert row.default_service == OMZETBELASTING


def test_register_single_consuming_service_becomes_default(
        catalogue: ServiceCatalogue, sp_key: KeyPair) -> None:
    row = providers.register_service_provider(db.session(), metadata=_sp(sp_key), service=None,
                                              catalogue=catalogue)
    assert row.default_service == INKOMSTEN


def test_register_same_entity_again_replaces_it(catalogue: ServiceCatalogue,
                                                sp_key: KeyPair) -> None:
    providers.register_service_provider(db.session(), metadata=_sp(sp_key), service=None,
                                        catalogue=catalogue)
    providers.register_service_provider(
        db.session(), metadata=_sp(sp_key, [(5, "OB", OMZETBELASTING)]), service=None,
        catalogue=catalogue)
    assert _count() == 1
    found = providers.find(db.session(), SP_ENTITY_ID)
    assert found is not None and found.services_by_index == {5: OMZETBELASTING}
    assert found.default_service == OMZETBELASTING


def test_register_unreadable_xml_is_refused(catalogue: ServiceCatalogue) -> None:
    message = _refused(b"<md:EntityDescriptor", catalogue)
    assert "XML" in message and "/" in message


def test_register_xml_with_doctype_is_refused_as_unsafe(catalogue: ServiceCatalogue) -> None:
    document = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                b'<x>&e;</x>')
    assert "veilige XML" in _refused(document, catalogue)


def test_register_idp_metadata_is_refused_as_not_an_sp(
        catalogue: ServiceCatalogue, sp_key: KeyPair) -> None:
    document = idp_descriptor(entity_id=SP_ENTITY_ID, key=sp_key, sso_url=SP_ACS, sign=False)
    assert "service provider" in _refused(document, catalogue)


def test_register_without_post_acs_is_refused(catalogue: ServiceCatalogue,
                                              sp_key: KeyPair) -> None:
    assert "HTTP-POST" in _refused(_edited(_sp(sp_key), "redirect-acs"), catalogue)


def test_register_expired_metadata_is_refused(catalogue: ServiceCatalogue,
                                              sp_key: KeyPair) -> None:
    message = _refused(_sp(sp_key, valid_for=timedelta(days=-1)), catalogue)
    assert "verlopen" in message and "expired" in message


def test_register_without_signing_certificate_is_refused(
        catalogue: ServiceCatalogue, sp_key: KeyPair) -> None:
    assert "certificate" in _refused(_edited(_sp(sp_key), "no-key"), catalogue)


def test_register_consuming_service_with_unknown_uuid_is_refused(
        catalogue: ServiceCatalogue, sp_key: KeyPair) -> None:
    message = _refused(_sp(sp_key, [(1, "X", UNKNOWN_SERVICE)]), catalogue)
    assert UNKNOWN_SERVICE in message and "catalogue" in message


def test_register_service_option_not_in_catalogue_is_refused(
        catalogue: ServiceCatalogue, sp_key: KeyPair) -> None:
    message = _refused(_sp(sp_key), catalogue, service=UNKNOWN_SERVICE)
    assert "--service" in message and UNKNOWN_SERVICE in message


def test_register_without_any_service_is_refused(catalogue: ServiceCatalogue,
                                                 sp_key: KeyPair) -> None:
    message = _refused(_sp(sp_key, []), catalogue, service=None)
    assert "Geen dienst" in message and "No service" in message


def test_register_several_services_without_default_is_refused(
        catalogue: ServiceCatalogue, sp_key: KeyPair) -> None:
    document = _sp(sp_key, [(1, "IB", INKOMSTEN), (2, "OB", OMZETBELASTING)])
    assert "--service" in _refused(document, catalogue, service=None)


def test_load_metadata_from_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        providers.load_metadata(str(tmp_path / "missing.xml"))
    assert "missing.xml" in str(caught.value)


def test_load_metadata_from_file_returns_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "sp.xml"
    path.write_bytes(b"<x/>")
    assert providers.load_metadata(str(path)) == b"<x/>"


def test_load_metadata_from_unreachable_url_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        providers.load_metadata("http://127.0.0.1:9/metadata")
    assert "127.0.0.1:9" in str(caught.value)


def test_find_parses_stored_metadata_once_per_version(
        app: Flask, catalogue: ServiceCatalogue, sp_key: KeyPair) -> None:
    providers.register_service_provider(db.session(), metadata=_sp(sp_key), service=None,
                                        catalogue=catalogue)
    first = providers.find(db.session(), SP_ENTITY_ID)
    assert first is not None
    assert providers.find(db.session(), SP_ENTITY_ID) is first
    assert providers.find(db.session(), "https://unknown.example.nl") is None
