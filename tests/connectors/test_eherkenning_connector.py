"""The mock eHerkenning connector: the request names the service and the eTD level; the answer
maps to an employee acting for an organisation; every refusal is as careful as for DigiD."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from lxml import etree

from broker.connectors.eherkenning import service_indexes
from broker.errors import RepresentationError
from broker.errors import UpstreamResponseError
from broker.identity import Identity
from broker.loa import ETOEGANG_URI
from broker.saml import bindings
from broker.saml import messages
from broker.saml.xml import SAML
from broker.saml.xml import parse
from tests.mock_idp.eherkenning_support import ACS
from tests.mock_idp.eherkenning_support import BAKERY
from tests.mock_idp.eherkenning_support import BAKERY_KVK
from tests.mock_idp.eherkenning_support import EVA
from tests.mock_idp.eherkenning_support import INKOMSTEN
from tests.mock_idp.eherkenning_support import OMZETBELASTING
from tests.mock_idp.eherkenning_support import SP_ENTITY
from tests.mock_idp.eherkenning_support import SSO
from tests.mock_idp.eherkenning_support import build_eh_app
from tests.mock_idp.eherkenning_support import craft_eh
from tests.mock_idp.eherkenning_support import flow_data
from tests.mock_idp.eherkenning_support import login_eh
from tests.mock_idp.eherkenning_support import start_eh_flow
from tests.mock_idp.support import BASE
from tests.mock_idp.support import posted_fields
from tests.mock_idp.support import runtime_of
from tests.mock_idp.support import stub


@pytest.fixture
def app(instance_path: Path) -> Flask:
    return build_eh_app(instance_path)


def _post(app: Flask, document: bytes) -> int:
    response = app.test_client().post(
        ACS.removeprefix(BASE), data={"SAMLResponse": bindings.encode_post(document)})
    return response.status_code


def _identity(app: Flask, flow_id: str) -> Identity:
    data = flow_data(app, flow_id)
    assert data is not None and data["state"] == "authenticated", data
    return Identity.from_dict(data["identity"])


def _refused_unverified(app: Flask, flow_id: str, document: bytes) -> None:
    """Refused before verification passed: the flow still waits, the RP is not told."""
    assert _post(app, document) in (400, 502)
    data = flow_data(app, flow_id)
    assert data is not None and data["state"] == "upstream"
    assert stub(app).errors == [] and stub(app).identities == []


def _refused_verified(app: Flask, flow_id: str, document: bytes,
                      error: type[Exception] = UpstreamResponseError) -> Exception:
    """A verified answer still refused: the flow ends and the RP is told."""
    _post(app, document)
    assert flow_data(app, flow_id) is None
    errors = stub(app).errors
    assert errors and isinstance(errors[-1], error)
    assert stub(app).identities == []
    return errors[-1]


# -- the request -----------------------------------------------------------------------------


def test_start_names_the_service_by_index_and_asks_etd_level_minimum(app: Flask) -> None:
    started = start_eh_flow(app, min_loa="substantial")
    assert started.location.startswith(SSO + "?")
    sp_key = runtime_of(app).context.key("connector-eherkenning")
    document, _ = bindings.decode_redirect(urlsplit(started.location).query, "SAMLRequest",
                                           [sp_key.certificate])
    request = messages.read_authn_request(document, now=datetime.now(UTC), skew=60)
    assert request.issuer == SP_ENTITY and request.acs_url == ACS
    assert request.requested_contexts == (ETOEGANG_URI["substantial"],)
    assert request.comparison == "minimum"
    assert request.attribute_consuming_service_index == service_indexes([OMZETBELASTING])[
        OMZETBELASTING]


def test_service_indexes_are_stable_when_services_are_added() -> None:
    alone = service_indexes([OMZETBELASTING])
    together = service_indexes([OMZETBELASTING, INKOMSTEN])
    assert together[OMZETBELASTING] == alone[OMZETBELASTING]
    assert len(set(together.values())) == 2
    assert all(1 <= index <= 9999 for index in together.values())


# -- the answer ------------------------------------------------------------------------------


def test_login_maps_to_employee_acting_for_the_organisation(app: Flask) -> None:
    client = app.test_client()
    started = start_eh_flow(app)
    action, fields = posted_fields(login_eh(client, started.location, "eva").text)
    response = client.post(action.removeprefix(BASE), data=fields)
    assert response.status_code == 303 and "/flow/" in response.location
    identity = _identity(app, started.flow_id)
    assert (identity.acting.id, identity.acting.id_type) == (EVA, "pseudonym")
    assert identity.organisation is not None
    assert identity.organisation.to_dict() == {"id": BAKERY_KVK, "id_type": "kvk",
                                                "name": BAKERY}
    assert identity.loa == "substantial" and identity.connector == "eherkenning"
    assert identity.attributes["urn:etoegang:core:ServiceUUID"] == (OMZETBELASTING,)
    assert identity.represents == ()


def test_branch_restriction_is_kept_on_the_identity(app: Flask) -> None:
    started = start_eh_flow(app)
    branch = (("urn:etoegang:1.9:ServiceRestriction:Vestigingsnr", ("000010000001",)),)
    _post(app, craft_eh(app, started.request_id, extra=branch))
    identity = _identity(app, started.flow_id)
    assert identity.attributes["urn:etoegang:1.9:ServiceRestriction:Vestigingsnr"] == (
        "000010000001",)


def test_tampered_assertion_is_refused_and_flow_keeps_waiting(app: Flask) -> None:
    started = start_eh_flow(app)
    root = parse(craft_eh(app, started.request_id))
    for node in root.iter(SAML + "NameID"):
        if node.text == BAKERY_KVK:
            node.text = "20000002"
    _refused_unverified(app, started.flow_id, etree.tostring(root))


def test_wrong_audience_is_refused_and_flow_keeps_waiting(app: Flask) -> None:
    started = start_eh_flow(app)
    document = craft_eh(app, started.request_id, audience="https://other.example/sp")
    _refused_unverified(app, started.flow_id, document)


def test_foreign_signature_is_refused(app: Flask) -> None:
    started = start_eh_flow(app)
    foreign = runtime_of(app).context.key("someone-else")
    _refused_unverified(app, started.flow_id, craft_eh(app, started.request_id, key=foreign))


def test_replayed_response_is_refused(app: Flask) -> None:
    started = start_eh_flow(app)
    document = craft_eh(app, started.request_id)
    assert _post(app, document) == 303
    _identity(app, started.flow_id)
    assert _post(app, document) == 400
    data = flow_data(app, started.flow_id)
    assert data is not None and data["state"] == "authenticated"


def test_request_denied_becomes_representation_error(app: Flask) -> None:
    client = app.test_client()
    started = start_eh_flow(app)
    action, fields = posted_fields(login_eh(client, started.location, "beheer").text)
    response = client.post(action.removeprefix(BASE), data=fields)
    assert response.status_code == 403
    assert "niet gemachtigd voor deze dienst" in response.text
    error = _refused_verified_after(app, started.flow_id)
    assert isinstance(error, RepresentationError)


def _refused_verified_after(app: Flask, flow_id: str) -> Exception:
    assert flow_data(app, flow_id) is None
    errors = stub(app).errors
    assert errors and stub(app).identities == []
    return errors[-1]


def test_kvk_that_is_not_eight_ascii_digits_is_refused(app: Flask) -> None:
    for kvk in ("1234567", "１０００００01", "1000000A"):
        started = start_eh_flow(app)
        error = _refused_verified(app, started.flow_id, craft_eh(app, started.request_id,
                                                                 kvk=kvk))
        assert "KvK" in str(error)


def test_missing_legal_subject_is_refused(app: Flask) -> None:
    started = start_eh_flow(app)
    _refused_verified(app, started.flow_id, craft_eh(app, started.request_id, kvk=None))


def test_missing_pseudonym_is_refused(app: Flask) -> None:
    started = start_eh_flow(app)
    error = _refused_verified(app, started.flow_id,
                              craft_eh(app, started.request_id, pseudonym=None))
    assert "pseudonym" in str(error)


def test_assertion_for_another_service_is_refused(app: Flask) -> None:
    started = start_eh_flow(app)
    error = _refused_verified(app, started.flow_id,
                              craft_eh(app, started.request_id, service=INKOMSTEN))
    assert "service" in str(error)


def test_invalid_branch_number_is_refused(app: Flask) -> None:
    started = start_eh_flow(app)
    branch = (("urn:etoegang:1.9:ServiceRestriction:Vestigingsnr", ("12345",)),)
    _refused_verified(app, started.flow_id, craft_eh(app, started.request_id, extra=branch))
