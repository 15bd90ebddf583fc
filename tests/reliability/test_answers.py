"""Every error in the endpoint's own protocol: OAuth JSON at the OIDC back channel (RFC 6749
5.2, RFC 6750 at userinfo), a page in Dutch and English for a person; the input guard in
front of every view; a statement the database refuses answered as the sender's error, with
the transaction rolled back so that the error's own bookkeeping still works."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy import text

from broker.app import create_app
from broker.audit import AuditEntry
from broker.config import Settings
from broker.web.database import db
from tests import services
from tests.conftest import release
from tests.reliability.conftest import csrf_of

UNREADABLE = "Dit verzoek bevat tekens of gegevens die wij niet kunnen lezen."


def _oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == error and isinstance(body["error_description"], str)
    return dict(body)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/oidc/token", {"POST"}),
    ("PUT", "/oidc/token", {"POST"}),
    ("POST", "/oidc/jwks", {"GET", "HEAD"}),
    ("POST", "/.well-known/openid-configuration", {"GET", "HEAD"}),
    ("DELETE", "/oidc/userinfo", {"GET", "HEAD", "POST"}),
])
def test_a_method_the_json_endpoint_does_not_allow_gets_json_405_with_allow(
        broker: Flask, method: str, path: str, allowed: set[str]) -> None:
    response = broker.test_client().open(path, method=method)
    _oauth_error(response, 405, "invalid_request")
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


@pytest.mark.parametrize("path", ["/oidc/nope", "/oidc/token/", "/.well-known/nope",
                                  "/healthz/nope"])
def test_a_path_under_the_json_endpoints_that_matches_nothing_gets_json_404(
        broker: Flask, path: str) -> None:
    _oauth_error(broker.test_client().get(path), 404, "invalid_request")


def test_the_authorization_endpoint_is_a_persons_and_answers_405_with_a_page(
        broker: Flask) -> None:
    response = broker.test_client().put("/oidc/authorize")
    assert response.status_code == 405 and response.mimetype == "text/html"
    assert "Deze pagina kan zo niet worden geopend" in response.get_data(as_text=True)
    assert "GET" in response.headers["Allow"]


def test_userinfo_refuses_unreadable_input_as_rfc_6750_invalid_request(broker: Flask) -> None:
    response = broker.test_client().get("/oidc/userinfo",
                                        headers={"Authorization": "Bearer a\x00b"})
    _oauth_error(response, 400, "invalid_request")
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_request"'


def test_a_token_request_over_the_size_limit_gets_json_413(broker: Flask) -> None:
    response = broker.test_client().post("/oidc/token", data=b"a=" + b"x" * (3 * 1024 * 1024),
                                         content_type="application/x-www-form-urlencoded")
    _oauth_error(response, 413, "invalid_request")


# -- the guard, everywhere a byte can hide ------------------------------------------------------

def _places() -> dict[str, dict[str, Any]]:
    """Request arguments hiding a control character, by where it hides (made anew for each
    request: an upload is read once)."""
    return {
        "query name": {"query_string": {"a\x00": "1"}},
        "query value": {"query_string": {"state": "a\x00"}},
        "form name": {"data": {"a\x00": "1"}},
        "form value": {"data": {"grant_type": "authorization_code", "code": "\x01"}},
        "cookie": {"environ_overrides": {"HTTP_COOKIE": "broker_lang=n\x00l"}},
        "quoted cookie": {"environ_overrides": {"HTTP_COOKIE": 'broker_lang="\\000nl"'}},
        "header": {"headers": {"X-Anything": "a\x00b"}},
        "basic credentials": {"headers": {
            "Authorization": "Basic " + base64.b64encode(b"demo-rp\x00:x").decode()}},
        "basic credentials escaped": {"headers": {
            "Authorization": "Basic " + base64.b64encode(b"demo-rp%00:x").decode()}},
        "upload name": {"data": {"file": (io.BytesIO(b"x"), "a\x00.csv")},
                        "content_type": "multipart/form-data"},
    }


PLACES = sorted(_places())


@pytest.mark.parametrize("place", PLACES)
def test_a_control_character_anywhere_is_refused_at_the_token_endpoint_as_oauth_json(
        broker: Flask, place: str) -> None:
    response = broker.test_client(use_cookies=False).post("/oidc/token", **_places()[place])
    _oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("place", [place for place in PLACES if "basic" not in place])
def test_a_control_character_anywhere_is_refused_at_a_form_as_a_page(
        broker: Flask, logged_in: Any, place: str) -> None:
    """(HTTP Basic is read as credentials only where clients authenticate: the token
    endpoint. At a form, or at userinfo, such a header is no credential at all.)"""
    request = _places()[place]
    request.setdefault("data", {})["csrf_token"] = csrf_of(logged_in)
    sessions = "; ".join(f"{cookie.key}={cookie.value}" for cookie in logged_in._cookies.values())
    cookies = request.setdefault("environ_overrides", {})
    cookies["HTTP_COOKIE"] = "; ".join(filter(None, (sessions, cookies.get("HTTP_COOKIE"))))
    response = broker.test_client(use_cookies=False).post("/machtigen/activeren", **request)
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert UNREADABLE in response.get_data(as_text=True)


@pytest.mark.parametrize("credentials", [b"demo-rp\x00:x", b"\xff\xfe:x"])
def test_basic_credentials_at_userinfo_are_the_wrong_scheme_not_unreadable_input(
        broker: Flask, credentials: bytes) -> None:
    """Any Basic header at userinfo gets RFC 6750's invalid_token, whatever its bytes (an
    access token sent as Basic decodes to random bytes)."""
    response = broker.test_client().get("/oidc/userinfo", headers={
        "Authorization": "Basic " + base64.b64encode(credentials).decode()})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_tab_and_line_breaks_in_a_value_are_not_refused(logged_in: Any) -> None:
    response = logged_in.post("/machtigen/activeren", data={
        "csrf_token": csrf_of(logged_in), "code": "a\tb\r\nc", "bsn": "1", "birth_date": "x"})
    assert response.status_code == 400 and UNREADABLE not in response.get_data(as_text=True)


# -- a statement the database refuses --------------------------------------------------------


@pytest.fixture
def refusing_broker(settings: Settings) -> Iterator[Flask]:
    """The demo broker with one more route: a view that began a portal login (a flow) and
    then hands the database a text it cannot store (PostgreSQL refuses NUL in text)."""
    from broker.portal.frontend import PORTAL_SERVICE
    from broker.web.runtime import runtime

    app = create_app(settings)

    def refused_statement() -> str:
        context = runtime().context
        flow = context.flows.start(
            browser_binding="b" * 43, frontend="portal", requester="portal",
            requester_name="Machtigingenportaal", service=PORTAL_SERVICE.uuid, min_loa="low",
            return_to=context.url("/machtigen/"), request={})
        with context.login.claimed(flow):
            db.session.execute(text("SELECT CAST(:value AS TEXT)"), {"value": "a\x00b"})
        return "the database took it"

    app.add_url_rule("/_test/refused-statement", "refused_statement", refused_statement)
    yield app
    release(app)


@pytest.mark.skipif(not services.postgresql_url(),
                    reason="PostgreSQL refuses NUL in text; SQLite stores it: runs in the pass "
                           "with DATABASE_URL (PostgreSQL)")
def test_a_value_the_database_refuses_is_the_senders_error_and_the_failure_is_still_recorded(
        refusing_broker: Flask) -> None:
    """The DataError leaves PostgreSQL's transaction aborted; the handler rolls it back, so
    the audit entry of the failed login is written in a working transaction."""
    with refusing_broker.app_context():  # one session for both requests, as in a shell
        client = refusing_broker.test_client()
        response = client.get("/_test/refused-statement")
        assert response.status_code == 400
        assert UNREADABLE in response.get_data(as_text=True)
        assert client.get("/machtigen/").status_code == 200
        failed = db.session.execute(select(AuditEntry).where(
            AuditEntry.action == "login.failed")).scalars().all()
    assert [entry.detail["reason"] for entry in failed] == ["MalformedInputError"]


# -- health ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_healthz_says_ok_when_database_and_state_answer(broker: Flask, method: str) -> None:
    response = broker.test_client().open("/healthz", method=method)
    assert response.status_code == 200 and response.mimetype == "application/json"
    if method == "GET":
        assert response.get_json() == {"status": "ok", "database": "ok", "state": "ok"}
