"""An app with the SAML IdP frontend, fake upstream connectors and a registered test SP.

The fake connectors stand in for the upstream: ``start`` remembers the flow, and their
``/done`` route finishes the last flow with the identity a test put on the connector, the way
a real connector's callback would (``context.login.authenticated``), or, with ``direct``,
hands it straight to the login's ``finish`` step, so these tests exercise only the SAML IdP frontend.
The test SP is a real pysaml2 ``Saml2Client`` (no xmlsec1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

import lxml.html
import pytest
from flask import Flask
from saml2 import BINDING_HTTP_POST
from saml2.client import Saml2Client

from broker.components import Components
from broker.demo.seed import seed
from broker.frontends.saml_idp import SamlIdpFrontend
from broker.frontends.saml_idp.providers import register_service_provider
from broker.identity import Identity
from broker.identity import Party
from broker.keys import KeyPair
from broker.saml import bindings
from broker.saml.metadata import sp_descriptor
from broker.saml.pysaml2_backend import make_saml2_client
from broker.web.database import db
from broker.web.runtime import runtime
from tests.fakes import FakeConnector

INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"  # digid, substantial
TOESLAGEN = "1373be8a-5091-5838-ac0d-b3234dc1fa5f"  # digid, substantial
OMZETBELASTING = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"  # eherkenning, substantial
SP_ENTITY_ID = "https://sp.example.nl/saml/metadata"
SP_ACS = "https://sp.example.nl/saml/acs"
UPSTREAM_DIGID = "https://digid.example.nl/saml/idp/metadata"
JAN = "999993653"


@pytest.fixture
def config() -> dict[str, Any]:
    return {"broker": {"base_url": "http://localhost", "allow_mock_connectors": True},
            "connectors": {"digid": {"type": "fake", "idp_entity_id": UPSTREAM_DIGID},
                           "eh": {"type": "fake", "via": "eherkenning"}},
            "frontends": {"saml": {"type": "saml_idp"}}}


@pytest.fixture
def components() -> Components:
    return Components(connectors={"fake": FakeConnector})


@pytest.fixture
def seeded(app: Flask) -> None:
    seed(db.session())


@pytest.fixture
def idp(app: Flask) -> SamlIdpFrontend:
    frontend = runtime().frontends["saml"]
    assert isinstance(frontend, SamlIdpFrontend)
    return frontend


@pytest.fixture
def digid(app: Flask) -> FakeConnector:
    connector = runtime().connectors["digid"]
    assert isinstance(connector, FakeConnector)
    return connector


@pytest.fixture
def sp_key(app: Flask) -> KeyPair:
    return runtime().context.key("test-sp")


@pytest.fixture
def sp_metadata(sp_key: KeyPair) -> bytes:
    return sp_descriptor(entity_id=SP_ENTITY_ID, key=sp_key, acs_url=SP_ACS,
                         services=[(1, "Inkomstenbelasting", INKOMSTEN),
                                   (2, "Omzetbelasting", OMZETBELASTING)])


@pytest.fixture
def registered(seeded: None, sp_metadata: bytes) -> None:
    register_service_provider(db.session(), metadata=sp_metadata, service=INKOMSTEN,
                              catalogue=runtime().context.catalogue())


@pytest.fixture
def sp_client(registered: None, idp: SamlIdpFrontend, sp_key: KeyPair) -> Saml2Client:
    keys = runtime().context.settings.keys_path
    return make_saml2_client({
        "entityid": SP_ENTITY_ID,
        "key_file": str(keys / "test-sp.key"), "cert_file": str(keys / "test-sp.crt"),
        "metadata": {"inline": [idp.metadata_xml().decode()]},
        "allow_unknown_attributes": True,
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(SP_ACS, BINDING_HTTP_POST)]},
            "want_response_signed": True, "want_assertions_signed": True,
            "authn_requests_signed": True, "allow_unsolicited": False}},
    }, sp_key)


def citizen(bsn: str = JAN, *, loa: str = "substantial") -> Identity:
    return Identity(acting=Party(id=bsn, id_type="bsn"), loa=loa, connector="digid",
                    authn_instant=datetime.now(UTC), upstream_issuer=UPSTREAM_DIGID)


@dataclass
class Posted:
    """The auto-submitted form the broker sends the browser to the SP with."""

    url: str
    fields: dict[str, str]

    @property
    def document(self) -> bytes:
        return bindings.decode_post(self.fields["SAMLResponse"])


def posted_form(html: str) -> Posted | None:
    """The form carrying a SAMLResponse on a page, or None when the page has none."""
    page = lxml.html.fromstring(html)
    for form in page.xpath("//form"):
        fields = {el.get("name", ""): el.get("value") or "" for el in form.xpath(".//input[@name]")}
        if "SAMLResponse" in fields:
            return Posted(form.get("action", ""), fields)
    return None


def follow(client: Any, response: Any, limit: int = 8) -> Any:
    """Follow the broker's redirects (only on this host) and return the last response."""
    for _ in range(limit):
        location = response.headers.get("Location")
        if response.status_code not in (302, 303) or not location:
            return response
        response = client.get(location)
    raise AssertionError("too many redirects")
