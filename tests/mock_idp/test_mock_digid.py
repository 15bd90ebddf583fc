"""Mock DigiD as a SAML IdP: what it accepts, what it refuses, and what it answers."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from broker.loa import EIDAS_URI
from broker.mock_idp import engine
from broker.mock_idp.digid import ENTITY_ID
from broker.saml import bindings
from broker.saml import messages
from broker.saml import metadata
from broker.saml import signing
from broker.saml.xml import BINDING_REDIRECT
from broker.saml.xml import parse
from tests.mock_idp.support import ACS
from tests.mock_idp.support import BASE
from tests.mock_idp.support import JAN_BSN
from tests.mock_idp.support import SP_ENTITY
from tests.mock_idp.support import SSO
from tests.mock_idp.support import open_login
from tests.mock_idp.support import posted_fields
from tests.mock_idp.support import runtime_of
from tests.mock_idp.support import start_flow
from tests.mock_idp.support import submit_login

SECRET = "JBSWY3DPEHPK3PXP"
GENERIC = "Gebruikersnaam, wachtwoord of code onjuist"


def _code() -> str:
    return engine.totp(SECRET, datetime.now(UTC))


def _wrong_code() -> str:
    return str((int(_code()) + 500000) % 1000000).zfill(6)


def _request_url(app: Flask, *, issuer: str = SP_ENTITY, acs_url: str = ACS,
                 destination: str = SSO, signed: bool = True, key_name: str = "connector-digid",
                 now: datetime | None = None) -> str:
    _, document = messages.build_authn_request(
        issuer=issuer, destination=destination, acs_url=acs_url,
        requested_contexts=[EIDAS_URI["substantial"]], now=now)
    key = runtime_of(app).context.key(key_name) if signed else None
    return bindings.redirect_url(SSO, "SAMLRequest", document, None, key).removeprefix(BASE)


def _success_document(app: Flask, client: FlaskClient) -> tuple[bytes, str, str]:
    """Log in as jan; the posted Response, the request id and the login URL."""
    started = start_flow(app)
    login_url, token = open_login(client, started.location)
    answer = submit_login(client, login_url, token, "jan", code=_code())
    assert answer.status_code == 200
    action, fields = posted_fields(answer.text)
    assert action == ACS
    return bindings.decode_post(fields["SAMLResponse"]), started.request_id, login_url


def test_metadata_is_signed_and_demands_signed_requests(app: Flask) -> None:
    response = app.test_client().get("/mock/digid/metadata")
    assert response.status_code == 200
    key = runtime_of(app).context.key("mock-digid")
    entity = metadata.read(response.data, trusted=[key.certificate])
    assert entity.entity_id == ENTITY_ID
    assert entity.want_authn_requests_signed
    assert entity.valid_until is not None and entity.valid_until > datetime.now(UTC)
    assert entity.sso_location(BINDING_REDIRECT) == SSO


def test_sso_signed_request_from_trusted_sp_redirects_to_login(app: Flask) -> None:
    response = app.test_client().get(_request_url(app))
    assert response.status_code == 303
    assert "/mock/digid/login/" in response.location


def test_sso_unsigned_request_is_refused(app: Flask) -> None:
    response = app.test_client().get(_request_url(app, signed=False))
    assert response.status_code == 400
    assert "/mock/digid/login/" not in response.headers.get("Location", "")


def test_sso_request_signed_with_foreign_key_is_refused(app: Flask) -> None:
    response = app.test_client().get(_request_url(app, key_name="someone-else"))
    assert response.status_code == 400
    assert response.headers.get("Location") is None


def test_sso_unknown_sp_is_refused(app: Flask) -> None:
    url = _request_url(app, issuer="https://evil.example/sp", key_name="someone-else")
    response = app.test_client().get(url)
    assert response.status_code == 400
    assert "niet bekend" in response.text


def test_sso_acs_url_not_in_sp_metadata_is_refused(app: Flask) -> None:
    response = app.test_client().get(_request_url(app, acs_url="https://evil.example/acs"))
    assert response.status_code == 400
    assert "evil.example" not in response.text
    assert response.headers.get("Location") is None


def test_sso_wrong_destination_is_refused(app: Flask) -> None:
    response = app.test_client().get(_request_url(app, destination=BASE + "/elsewhere"))
    assert response.status_code == 400


def test_sso_stale_request_is_refused(app: Flask) -> None:
    stale = datetime.now(UTC) - timedelta(hours=1)
    response = app.test_client().get(_request_url(app, now=stale))
    assert response.status_code == 400


def test_sso_post_binding_signed_request_is_accepted(app: Flask) -> None:
    _, document = messages.build_authn_request(issuer=SP_ENTITY, destination=SSO, acs_url=ACS)
    signed = signing.sign(parse(document), runtime_of(app).context.key("connector-digid"))
    response = app.test_client().post("/mock/digid/sso", data={
        "SAMLRequest": bindings.encode_post(etree.tostring(signed))})
    assert response.status_code == 303
    assert "/mock/digid/login/" in response.location


def test_sso_post_binding_unsigned_request_is_refused(app: Flask) -> None:
    _, document = messages.build_authn_request(issuer=SP_ENTITY, destination=SSO, acs_url=ACS)
    response = app.test_client().post("/mock/digid/sso", data={
        "SAMLRequest": bindings.encode_post(document)})
    assert response.status_code == 400


def test_login_page_lists_demo_accounts_and_mock_banner(app: Flask) -> None:
    client = app.test_client()
    started = start_flow(app)
    login_url, _ = open_login(client, started.location)
    page = client.get(login_url).text
    assert 'class="mock-digid"' in page
    assert "NEP-DigiD" in page
    assert "jan" in page and "Jan Jansen" in page and "substantieel" in page
    assert "noor" in page and "basis" in page
    assert SECRET in page and "<code>demo</code>" in page


def test_login_without_csrf_token_is_refused(app: Flask) -> None:
    client = app.test_client()
    started = start_flow(app)
    login_url, _ = open_login(client, started.location)
    response = client.post(login_url, data={"username": "noor", "password": "demo"})
    assert response.status_code == 400
    assert "SAMLResponse" not in response.text


def test_login_wrong_password_shows_generic_error_and_keeps_ticket(app: Flask) -> None:
    client = app.test_client()
    started = start_flow(app)
    login_url, token = open_login(client, started.location)
    response = submit_login(client, login_url, token, "noor", password="wrong")
    assert response.status_code == 401
    assert GENERIC in response.text
    assert "SAMLResponse" not in response.text
    assert client.get(login_url).status_code == 200


def test_login_wrong_totp_code_shows_generic_error(app: Flask) -> None:
    client = app.test_client()
    started = start_flow(app)
    login_url, token = open_login(client, started.location)
    response = submit_login(client, login_url, token, "jan", code=_wrong_code())
    assert response.status_code == 401
    assert GENERIC in response.text
    missing = submit_login(client, login_url, token, "jan", code="")
    assert missing.status_code == 401 and GENERIC in missing.text


def test_login_unknown_user_shows_same_generic_error(app: Flask) -> None:
    client = app.test_client()
    started = start_flow(app)
    login_url, token = open_login(client, started.location)
    response = submit_login(client, login_url, token, "nobody")
    assert response.status_code == 401
    assert GENERIC in response.text


def test_login_five_wrong_attempts_lock_the_ticket(app: Flask) -> None:
    """Unknown usernames lock no account, so this is the ticket's own limit."""
    client = app.test_client()
    started = start_flow(app)
    login_url, token = open_login(client, started.location)
    for number in range(engine.MAX_ATTEMPTS - 1):
        assert submit_login(client, login_url, token, f"niemand{number}",
                            password="x").status_code == 401
    locked = submit_login(client, login_url, token, "niemand", password="x")
    assert locked.status_code == 403
    assert "Te veel onjuiste pogingen" in locked.text
    again = submit_login(client, login_url, token, "noor")
    assert again.status_code == 400
    assert "SAMLResponse" not in again.text


def test_login_success_produces_response_that_read_response_accepts(app: Flask) -> None:
    client = app.test_client()
    document, request_id, _ = _success_document(app, client)
    key = runtime_of(app).context.key("mock-digid")
    verified = messages.read_response(
        document, idp_entity_id=ENTITY_ID, certificates=[key.certificate], acs_url=ACS,
        audience=SP_ENTITY, in_response_to=request_id, now=datetime.now(UTC), skew=60)
    assert verified.authn_context == EIDAS_URI["substantial"]
    assert verified.attributes["urn:nl-eid-gdi:1.0:ActingSubjectID"] == (
        f"urn:nl-eid-gdi:1.0:id:legacy-BSN|{JAN_BSN}",)
    assert verified.name_id != JAN_BSN
    root = parse(document)
    assert b"AuthenticatingAuthority" in document and ENTITY_ID.encode() in document
    assert root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None


def test_login_ticket_is_single_use(app: Flask) -> None:
    client = app.test_client()
    _, _, login_url = _success_document(app, client)
    page = client.get(login_url)
    assert page.status_code == 400
    second = client.post(login_url, data={"username": "jan", "password": "demo"})
    assert second.status_code == 400
    assert "SAMLResponse" not in second.text


def test_cancel_answers_authn_failed_with_message(app: Flask) -> None:
    client = app.test_client()
    started = start_flow(app)
    login_url, token = open_login(client, started.location)
    answer = submit_login(client, login_url, token, "", password="", action="cancel")
    _, fields = posted_fields(answer.text)
    key = runtime_of(app).context.key("mock-digid")
    with pytest.raises(messages.StatusError) as caught:
        messages.read_response(
            bindings.decode_post(fields["SAMLResponse"]), idp_entity_id=ENTITY_ID,
            certificates=[key.certificate], acs_url=ACS, audience=SP_ENTITY,
            in_response_to=started.request_id, now=datetime.now(UTC), skew=60)
    assert caught.value.code == "urn:oasis:names:tc:SAML:2.0:status:Responder"
    assert caught.value.sub_code == "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
    assert caught.value.message == "Authentication cancelled"


def test_level_below_requested_answers_no_authn_context(app: Flask) -> None:
    client = app.test_client()
    started = start_flow(app, min_loa="substantial")
    login_url, token = open_login(client, started.location)
    answer = submit_login(client, login_url, token, "noor")
    _, fields = posted_fields(answer.text)
    key = runtime_of(app).context.key("mock-digid")
    with pytest.raises(messages.StatusError) as caught:
        messages.read_response(
            bindings.decode_post(fields["SAMLResponse"]), idp_entity_id=ENTITY_ID,
            certificates=[key.certificate], acs_url=ACS, audience=SP_ENTITY,
            in_response_to=started.request_id, now=datetime.now(UTC), skew=60)
    assert caught.value.sub_code == "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"


def test_totp_matches_adjacent_window_only() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert engine.totp_matches(SECRET, engine.totp(SECRET, now), now)
    assert engine.totp_matches(SECRET, engine.totp(SECRET, now - timedelta(seconds=30)), now)
    assert not engine.totp_matches(SECRET, engine.totp(SECRET, now - timedelta(minutes=5)), now)
    assert not engine.totp_matches(SECRET, "12345", now)


def test_totp_matches_rfc6238_reference_value() -> None:
    # RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 (8 digits); the last 6 digits.
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # "12345678901234567890"
    assert engine.totp(secret, datetime.fromtimestamp(59, tz=UTC)) == "287082"
