"""Mock eHerkenning as a SAML IdP and mandate register: what it accepts, what it refuses, and
the eTD content it answers."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from broker.connectors.eherkenning import EherkenningConnector
from broker.loa import ETOEGANG_URI
from broker.mock_idp.eherkenning import ENTITY_ID
from broker.register.models import REVOKED
from broker.register.models import Mandate
from broker.saml import bindings
from broker.saml import messages
from broker.saml import metadata
from broker.saml.xml import BINDING_REDIRECT
from broker.web.database import db
from tests.mock_idp.eherkenning_support import ACS
from tests.mock_idp.eherkenning_support import BAKERY
from tests.mock_idp.eherkenning_support import BAKERY_KVK
from tests.mock_idp.eherkenning_support import BAKERY_RSIN
from tests.mock_idp.eherkenning_support import EVA
from tests.mock_idp.eherkenning_support import OMZETBELASTING
from tests.mock_idp.eherkenning_support import SP_ENTITY
from tests.mock_idp.eherkenning_support import SSO
from tests.mock_idp.eherkenning_support import build_eh_app
from tests.mock_idp.eherkenning_support import code
from tests.mock_idp.eherkenning_support import eh_key
from tests.mock_idp.eherkenning_support import login_eh
from tests.mock_idp.eherkenning_support import start_eh_flow
from tests.mock_idp.support import BASE
from tests.mock_idp.support import open_login
from tests.mock_idp.support import posted_fields
from tests.mock_idp.support import runtime_of
from tests.mock_idp.support import submit_login

RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
NO_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
AUTHN_FAILED = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
GENERIC = "Gebruikersnaam, wachtwoord of code onjuist"


@pytest.fixture
def app(instance_path: Path) -> Flask:
    return build_eh_app(instance_path)


def _request_url(app: Flask, *, issuer: str = SP_ENTITY, signed: bool = True,
                 index: int | None = None, key_name: str = "connector-eherkenning") -> str:
    with app.test_request_context():
        connector = runtime_of(app).connectors["eherkenning"]
        assert isinstance(connector, EherkenningConnector)
        first = connector.consuming_services()[0][0]
    _, document = messages.build_authn_request(
        issuer=issuer, destination=SSO, acs_url=ACS,
        requested_contexts=[ETOEGANG_URI["substantial"]],
        attribute_consuming_service_index=first if index is None else index)
    key = runtime_of(app).context.key(key_name) if signed else None
    return bindings.redirect_url(SSO, "SAMLRequest", document, None, key).removeprefix(BASE)


def _read(app: Flask, answer_html: str, request_id: str) -> messages.VerifiedAssertion:
    action, fields = posted_fields(answer_html)
    assert action == ACS
    return messages.read_response(
        bindings.decode_post(fields["SAMLResponse"]), idp_entity_id=ENTITY_ID,
        certificates=[eh_key(app).certificate], acs_url=ACS, audience=SP_ENTITY,
        in_response_to=request_id, now=datetime.now(UTC), skew=60)


def _status(app: Flask, answer_html: str, request_id: str) -> messages.StatusError:
    with pytest.raises(messages.StatusError) as caught:
        _read(app, answer_html, request_id)
    return caught.value


def test_metadata_is_signed_and_names_the_hm_entity(app: Flask) -> None:
    response = app.test_client().get("/mock/eherkenning/metadata")
    assert response.status_code == 200
    entity = metadata.read(response.data, trusted=[eh_key(app).certificate])
    assert entity.entity_id == ENTITY_ID
    assert entity.entity_id.startswith("urn:etoegang:HM:00000099")
    assert entity.want_authn_requests_signed
    assert entity.sso_location(BINDING_REDIRECT) == SSO


def test_sso_signed_request_naming_a_service_redirects_to_login(app: Flask) -> None:
    response = app.test_client().get(_request_url(app))
    assert response.status_code == 303
    assert "/mock/eherkenning/login/" in response.location


def test_sso_unsigned_request_is_refused(app: Flask) -> None:
    response = app.test_client().get(_request_url(app, signed=False))
    assert response.status_code == 400
    assert "/login/" not in response.headers.get("Location", "")


def test_sso_request_signed_with_foreign_key_is_refused(app: Flask) -> None:
    response = app.test_client().get(_request_url(app, key_name="someone-else"))
    assert response.status_code == 400


def test_sso_unknown_sp_is_refused(app: Flask) -> None:
    response = app.test_client().get(_request_url(app, issuer="https://unknown.example/sp"))
    assert response.status_code == 400
    assert "niet bekend" in response.text


def test_sso_unknown_consuming_service_index_is_refused(app: Flask) -> None:
    response = app.test_client().get(_request_url(app, index=65000))
    assert response.status_code == 400


def test_sso_request_without_a_service_is_refused(app: Flask) -> None:
    _, document = messages.build_authn_request(issuer=SP_ENTITY, destination=SSO, acs_url=ACS)
    key = runtime_of(app).context.key("connector-eherkenning")
    url = bindings.redirect_url(SSO, "SAMLRequest", document, None, key).removeprefix(BASE)
    response = app.test_client().get(url)
    assert response.status_code == 400


def test_sp_metadata_maps_each_eherkenning_service_to_an_index(app: Flask) -> None:
    document = app.test_client().get("/connect/eherkenning/metadata").data
    entity = metadata.read(document)
    from broker.services import ORG_PORTAL_SERVICE

    requested = {s.index: s.requested for s in entity.attribute_consuming_services}
    # Aangifte omzetbelasting (the catalogue's one eHerkenning service) and the broker's own
    # organisation portal, which people log in to with eHerkenning too
    assert sorted(r["urn:etoegang:core:ServiceUUID"] for r in requested.values()) == sorted(
        [(OMZETBELASTING,), (ORG_PORTAL_SERVICE.uuid,)])


def test_login_page_lists_employees_with_organisation_and_mock_banner(app: Flask) -> None:
    client = app.test_client()
    started = start_eh_flow(app)
    login_url, _ = open_login(client, started.location)
    page = client.get(login_url).text
    assert 'class="mock-eherkenning"' in page and "NEP-eHerkenning" in page
    for username in ("eva", "ruben", "beheer"):
        assert f"<code>{username}</code>" in page
    assert BAKERY in page and "Administratiekantoor Telgen" in page
    assert "EH3" in page and "<code>demo</code>" in page


def test_login_wrong_password_shows_generic_error_and_keeps_ticket(app: Flask) -> None:
    client = app.test_client()
    started = start_eh_flow(app)
    login_url, token = open_login(client, started.location)
    answer = submit_login(client, login_url, token, "eva", password="wrong", code=code())
    assert answer.status_code == 401 and GENERIC in answer.text
    assert "SAMLResponse" not in answer.text
    assert client.get(login_url).status_code == 200


def test_login_wrong_totp_code_shows_generic_error(app: Flask) -> None:
    client = app.test_client()
    started = start_eh_flow(app)
    answer = login_eh(client, started.location, "eva", totp="000000")
    assert answer.status_code == 401 and GENERIC in answer.text


def test_authorised_employee_gets_signed_etd_assertion(app: Flask) -> None:
    client = app.test_client()
    started = start_eh_flow(app)
    answer = login_eh(client, started.location, "eva")
    assert answer.status_code == 200
    verified = _read(app, answer.text, started.request_id)
    assert verified.authn_context == ETOEGANG_URI["substantial"]
    assert verified.name_id_format == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    assert verified.name_id != EVA
    assert verified.attributes["urn:etoegang:core:ActingSubjectID"] == (
        f"urn:etoegang:1.13:EntityConcernedID:Pseudo|{EVA}",)
    assert verified.attributes["urn:etoegang:core:LegalSubjectID"] == (
        f"urn:etoegang:1.9:EntityConcernedID:KvKnr|{BAKERY_KVK}",
        f"urn:etoegang:1.9:EntityConcernedID:RSIN|{BAKERY_RSIN}")
    assert verified.attributes["urn:etoegang:core:ServiceUUID"] == (OMZETBELASTING,)
    assert verified.attributes["urn:etoegang:1.11:attribute-represented:CompanyName"] == (BAKERY,)
    assert "urn:etoegang:1.9:ServiceRestriction:Vestigingsnr" not in verified.attributes


def test_branch_of_the_company_mandate_is_a_service_restriction(app: Flask) -> None:
    with app.app_context():
        mandate = db.session.execute(select(Mandate).where(
            Mandate.kind == "company", Mandate.representative_id == EVA)).scalar_one()
        mandate.extra = {"branch": "000010000001"}
        db.session.commit()
    client = app.test_client()
    started = start_eh_flow(app)
    verified = _read(app, login_eh(client, started.location, "eva").text, started.request_id)
    assert verified.attributes["urn:etoegang:1.9:ServiceRestriction:Vestigingsnr"] == (
        "000010000001",)


def test_employee_without_authorisation_gets_request_denied_and_nothing_else(app: Flask) -> None:
    client = app.test_client()
    started = start_eh_flow(app)
    answer = login_eh(client, started.location, "beheer")
    error = _status(app, answer.text, started.request_id)
    assert (error.code, error.sub_code) == (RESPONDER, REQUEST_DENIED)
    assert error.message and "not authorised" in error.message
    _, fields = posted_fields(answer.text)
    document = bindings.decode_post(fields["SAMLResponse"])
    assert b"Assertion" not in document and BAKERY_KVK.encode() not in document


def test_revoked_company_mandate_gets_request_denied(app: Flask) -> None:
    with app.app_context():
        mandate = db.session.execute(select(Mandate).where(
            Mandate.kind == "company", Mandate.representative_id == EVA)).scalar_one()
        mandate.state = REVOKED
        db.session.commit()
    client = app.test_client()
    started = start_eh_flow(app)
    error = _status(app, login_eh(client, started.location, "eva").text, started.request_id)
    assert error.sub_code == REQUEST_DENIED


def test_mandate_at_a_higher_level_than_the_account_gets_request_denied(app: Flask) -> None:
    with app.app_context():
        mandate = db.session.execute(select(Mandate).where(
            Mandate.kind == "company", Mandate.representative_id == EVA)).scalar_one()
        mandate.loa = "high"
        db.session.commit()
    client = app.test_client()
    started = start_eh_flow(app)
    error = _status(app, login_eh(client, started.location, "eva").text, started.request_id)
    assert error.sub_code == REQUEST_DENIED


def test_account_level_below_requested_gets_no_authn_context(app: Flask) -> None:
    client = app.test_client()
    started = start_eh_flow(app, min_loa="high")
    error = _status(app, login_eh(client, started.location, "eva").text, started.request_id)
    assert (error.code, error.sub_code) == (RESPONDER, NO_AUTHN_CONTEXT)


def test_cancel_answers_authn_failed_with_message(app: Flask) -> None:
    client = app.test_client()
    started = start_eh_flow(app)
    answer = login_eh(client, started.location, "", password="", totp="", action="cancel")
    error = _status(app, answer.text, started.request_id)
    assert (error.sub_code, error.message) == (AUTHN_FAILED, "Authentication cancelled")


def test_login_ticket_is_single_use(app: Flask) -> None:
    client = app.test_client()
    started = start_eh_flow(app)
    login_url, token = open_login(client, started.location)
    first = submit_login(client, login_url, token, "eva", code=code())
    assert "SAMLResponse" in first.text
    assert client.get(login_url).status_code == 400
    second = submit_login(client, login_url, token, "eva", code=code())
    assert second.status_code == 400 and "SAMLResponse" not in second.text

