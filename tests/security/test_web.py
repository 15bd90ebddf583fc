"""Catalogue section 5 (web, session and browser-facing controls), on the demo broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from broker.app import create_app
from broker.config import demo_config
from broker.config import load_settings
from tests.mock_idp.support import craft
from tests.mock_idp.support import flow_state
from tests.mock_idp.support import post_response
from tests.mock_idp.support import start_flow

CSRF_PAGE = "Dit formulier is verlopen"
FORMS = [  # every form a person submits
    "/machtigen/inloggen", "/machtigen/uitloggen", "/machtigen/geven", "/machtigen/aanvragen",
    "/machtigen/activeren", "/machtigen/machtiging/x/intrekken", "/flow/x/upstream",
    "/flow/x/choose", "/mock/digid/login/x",
]
PROTOCOL_POSTS = [  # cross-site by design: no CSRF token, their own checks instead
    "/connect/digid/acs", "/oidc/token", "/saml/idp/sso", "/demo/saml/acs", "/mock/digid/sso",
]


def _demo(instance: Path, base_url: str, **broker: Any) -> Flask:
    config = demo_config(base_url)
    config["broker"].update(broker)
    return create_app(load_settings(config, instance_path=instance, environ={}))


@pytest.fixture
def demo(instance_path: Path) -> Iterator[Flask]:
    app = _demo(instance_path, "http://localhost")
    with app.app_context():
        yield app


@pytest.mark.parametrize("path", FORMS)
def test_web_01_every_form_refuses_a_post_without_csrf_token(demo: Flask, path: str) -> None:
    response = demo.test_client().post(path, data={"service": "x", "choice": "self"})
    assert response.status_code == 400 and CSRF_PAGE in response.text


@pytest.mark.parametrize("path", PROTOCOL_POSTS)
def test_web_01_protocol_endpoints_use_their_own_checks_not_csrf(demo: Flask, path: str) -> None:
    response = demo.test_client().post(path, data={})
    assert CSRF_PAGE not in response.text and response.status_code in (400, 401, 404)


def test_web_04_pages_and_hand_off_forms_cannot_be_framed(demo: Flask) -> None:
    client = demo.test_client()
    for path in ("/", "/demo/", "/machtigen/", "/no-such-page"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"


def test_web_05_cookies_over_https_are_host_prefixed_secure_httponly_lax(
        instance_path: Path) -> None:
    app = _demo(instance_path, "https://broker.test")
    with app.app_context():
        response = app.test_client().get("/?lang=en", base_url="https://broker.test")
    (cookie,) = response.headers.getlist("Set-Cookie")
    assert cookie.startswith("__Host-broker_lang=en;")
    for flag in ("Secure", "HttpOnly", "Path=/", "SameSite=Lax"):
        assert flag in cookie
    assert "Domain" not in cookie


def test_web_05_portal_session_cookie_has_the_same_flags(instance_path: Path) -> None:
    from broker.context import BrokerContext
    from broker.portal import session
    from broker.web.runtime import runtime

    app = _demo(instance_path, "https://broker.test")
    with app.test_request_context(base_url="https://broker.test"):
        context: BrokerContext = runtime().context
        response = app.response_class()
        session.start(context, response, session.PortalUser(bsn="999993653", loa="substantial"))
    (cookie,) = response.headers.getlist("Set-Cookie")
    assert cookie.startswith("__Host-broker_portal=")
    assert all(flag in cookie for flag in ("Secure", "HttpOnly", "Path=/", "SameSite=Lax"))
    assert "999993653" not in cookie


def test_web_05_hsts_only_over_https(demo: Flask, instance_path: Path, tmp_path: Path) -> None:
    assert "Strict-Transport-Security" not in demo.test_client().get("/").headers
    app = _demo(tmp_path / "https-instance", "https://broker.test")
    with app.app_context():
        headers = app.test_client().get("/", base_url="https://broker.test").headers
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_web_06_upstream_post_needs_no_cookie_its_flow_is_found_by_in_response_to(
        app: Flask) -> None:
    started = start_flow(app)  # the connector tests' app; a browser with no cookies at all
    response = post_response(app.test_client(), craft(app, started.request_id))
    assert response.status_code == 303 and "/flow/" in response.headers["Location"]
    assert flow_state(app, started.flow_id) == "authenticated"


def test_web_07_pages_are_not_stored_and_vary_on_cookie(demo: Flask) -> None:
    headers = demo.test_client().get("/machtigen/").headers
    assert headers["Cache-Control"] == "no-store"
    assert "Cookie" in headers.get_all("Vary")


def test_web_07_token_endpoint_answers_are_not_stored(demo: Flask) -> None:
    response = demo.test_client().post("/oidc/token", data={"grant_type": "authorization_code"})
    assert response.headers["Cache-Control"] == "no-store"


def test_web_08_no_inline_script_is_allowed(demo: Flask) -> None:
    policy = demo.test_client().get("/").headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "script-src 'self'" in policy


@pytest.mark.parametrize(("method", "path", "data"), [
    ("post", "/connect/digid/acs", {"SAMLResponse": "PHg+PC94Pg==<script>"}),
    ("get", "/saml/idp/sso?SAMLRequest=%3Cscript%3Ealert(1)%3C%2Fscript%3E", None),
    ("get", "/oidc/authorize?client_id=%3Cscript%3E&redirect_uri=x", None),
    ("get", "/flow/%3Cscript%3E/continue", None),
])
def test_web_09_malformed_input_gets_a_page_without_trace_or_echo(
        demo: Flask, method: str, path: str, data: dict[str, str] | None) -> None:
    response = getattr(demo.test_client(), method)(path, data=data)
    assert 400 <= response.status_code < 500
    assert "Traceback" not in response.text and "<script>" not in response.text
    assert "Foutcode" in response.text


def test_web_11_forwarded_headers_are_ignored_unless_configured(demo: Flask) -> None:
    response = demo.test_client().get("/.well-known/openid-configuration", headers={
        "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"})
    assert "evil.example" not in response.text
    assert response.json is not None
    assert response.json["issuer"] == "http://localhost"
