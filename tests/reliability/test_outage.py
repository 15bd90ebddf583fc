"""A part the broker stands on goes away and comes back: Redis, then (separately) PostgreSQL,
each reached through a proxy the test cuts and restores (the machine's real servers keep
running for everything else).

With the part cut, an API client gets OAuth JSON 503 with Retry-After at the token and
userinfo endpoints; a SAML SP whose request got past ACS validation gets its Responder status
(a signed error Response to its own ACS); a person gets a 503 page in Dutch and English with
Retry-After; /healthz names the part. With the part restored, the same requests succeed,
nothing restarted: redis-py reconnects per command, SQLAlchemy's pool_pre_ping replaces the
dead connections.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask
from sqlalchemy import select

from broker import audit
from broker import loa
from broker.app import create_app
from broker.audit import AuditEntry
from broker.config import demo_config
from broker.config import load_settings
from broker.frontends.oidc import tokens
from broker.frontends.oidc.clients import register_client
from broker.frontends.saml_idp.providers import register_service_provider
from broker.identity import Identity
from broker.identity import Party
from broker.saml import bindings
from broker.saml import signing
from broker.saml.messages import build_authn_request
from broker.saml.metadata import sp_descriptor
from broker.saml.xml import SAMLP
from broker.saml.xml import parse
from broker.web.database import db
from tests import services
from tests.conftest import release
from tests.frontends.saml_idp.conftest import posted_form
from tests.reliability.proxy import CuttableProxy
from tests.reliability.proxy import proxied

INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"
REDIRECT = "https://rp.outage.test/callback"
SP_ENTITY, SP_ACS = "https://sp.outage.test/metadata", "https://sp.outage.test/acs"
RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
UNAVAILABLE_NL = "Door een storing bij ons lukt dit op dit moment niet."
UNAVAILABLE_EN = "Because of a fault on our side this is not possible at the moment."


@dataclass
class Outage:
    """A demo broker whose Redis or database runs through ``proxy``, with an OIDC client, a
    SAML SP and a portal session of its own."""

    app: Flask
    proxy: CuttableProxy
    client_id: str
    secret: str
    portal_cookie: str

    def client(self) -> Any:
        client = self.app.test_client()
        client.set_cookie("broker_portal", self.portal_cookie)
        return client

    def code(self) -> tuple[str, str]:
        """A fresh authorization code for the client (put in the store as the broker would
        after a login), and its PKCE verifier."""
        verifier = secrets.token_urlsafe(48)
        identity = Identity(acting=Party(id="999993653", id_type="bsn"), loa="substantial",
                            connector="digid", authn_instant=datetime.now(UTC))
        with self.app.app_context():
            code = tokens.issue_code(
                self.app.extensions["broker"].context.store, client_id=self.client_id,
                redirect_uri=REDIRECT, code_challenge=create_s256_code_challenge(verifier),
                scope=f"openid urn:uuid:{INKOMSTEN}", nonce="n", identity=identity.to_dict(),
                service=INKOMSTEN, acr=loa.EIDAS_URI["substantial"],
                auth_time=int(identity.authn_instant.timestamp()))
        return code, verifier

    def redeem(self, code: str, verifier: str) -> Any:
        return self.app.test_client().post(
            "/oidc/token", auth=(self.client_id, self.secret),
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                  "code_verifier": verifier})

    def userinfo(self, access_token: str) -> Any:
        return self.app.test_client().get(
            "/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"})

    def saml_sso(self) -> Any:
        """A signed AuthnRequest (Redirect binding) of the registered SP."""
        with self.app.app_context():
            context = self.app.extensions["broker"].context
            _, document = build_authn_request(
                issuer=SP_ENTITY, destination=context.url("/saml/idp/sso"), acs_url=SP_ACS,
                requested_contexts=(), comparison="minimum",
                attribute_consuming_service_index=1)
            url = bindings.redirect_url(context.url("/saml/idp/sso"), "SAMLRequest", document,
                                        "relay-1", context.key("outage-sp"))
        return self.app.test_client().get(url.removeprefix(context.url("")))

    def oidc_authorize(self) -> Any:
        verifier = secrets.token_urlsafe(48)
        query = urlencode({
            "client_id": self.client_id, "redirect_uri": REDIRECT, "response_type": "code",
            "scope": f"openid urn:uuid:{INKOMSTEN}", "state": "st-1", "nonce": "n-1",
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256"})
        return self.client().get(f"/oidc/authorize?{query}")

    def responder_status_of(self, response: Any) -> list[str | None]:
        form = posted_form(response.get_data(as_text=True))
        assert form is not None and form.url == SP_ACS, response.get_data(as_text=True)[:500]
        with self.app.app_context():
            key = self.app.extensions["broker"].context.key("saml-idp")
        root = signing.verify(parse(form.document), [key.certificate])
        return [code.get("Value") for code in root.iter(SAMLP + "StatusCode")]


def _outage(settings_environ: dict[str, str], instance: Path) -> Outage:
    config = demo_config("http://localhost")
    config["broker"]["config_cache_seconds"] = 0  # every request asks the database itself
    if "REDIS_URL" in settings_environ:
        config["broker"]["redis_prefix"] = services.redis_prefix()
    app = create_app(load_settings(config, instance_path=instance, environ=settings_environ))
    with app.app_context():
        context = app.extensions["broker"].context
        secret = register_client(db.session(), client_id="outage-rp", redirect_uris=[REDIRECT],
                                 secret=None)
        assert secret
        metadata = sp_descriptor(entity_id=SP_ENTITY, key=context.key("outage-sp"),
                                 acs_url=SP_ACS, services=[(1, "Inkomstenbelasting", INKOMSTEN)])
        register_service_provider(db.session(), metadata=metadata, service=INKOMSTEN,
                                  catalogue=context.catalogue())
        db.session.commit()
        token = secrets.token_urlsafe(32)
        from broker.portal import session

        context.store.put(session.key(session.CITIZEN, token),
                          {"bsn": "999993653", "loa": "substantial"}, session.IDLE_SECONDS)
    return Outage(app, None, "outage-rp", secret, token)  # type: ignore[arg-type]


def _assert_oauth_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Cache-Control"] == "no-store"


def _assert_unavailable_page(outage: Outage, path: str) -> None:
    for language, message in (("nl", UNAVAILABLE_NL), ("en", UNAVAILABLE_EN)):
        response = outage.client().get(f"{path}?lang={language}")
        assert response.status_code == 503 and response.mimetype == "text/html"
        assert message in response.get_data(as_text=True)
        assert int(response.headers["Retry-After"]) > 0


def _assert_audit_trail_intact(outage: Outage) -> None:
    """What ``broker audit verify`` checks: the chain holds after the fault."""
    with outage.app.app_context():
        assert audit.verify(db.session()).ok


def _healthz(outage: Outage) -> tuple[int, dict[str, str]]:
    response = outage.app.test_client().get("/healthz")
    return response.status_code, response.get_json()


# -- Redis -------------------------------------------------------------------------------------


@contextmanager
def _cut_able(variable: str, url: str, port: int, instance_path: Path,
              service_environ: dict[str, str]) -> Iterator[Outage]:
    """The broker with the part at ``url`` reached through a proxy the test can cut."""
    with proxied(url, port) as (proxy, through):
        outage = _outage({**service_environ, variable: through}, instance_path)
        outage.proxy = proxy
        yield outage
        release(outage.app)


@pytest.fixture
def redis_outage(instance_path: Path, service_environ: dict[str, str]) -> Iterator[Outage]:
    url = services.redis_url()
    if not url:
        pytest.skip("needs Redis: runs in the pass with REDIS_URL set (./run tests makes it "
                    "when PostgreSQL and Redis answer)")
    with _cut_able("REDIS_URL", url, 6379, instance_path, service_environ) as outage:
        yield outage


def test_with_redis_cut_every_protocol_says_try_again_and_with_it_back_all_works(
        redis_outage: Outage) -> None:
    outage = redis_outage
    access_token = outage.redeem(*outage.code()).get_json()["access_token"]
    code, verifier = outage.code()
    outage.proxy.cut()

    _assert_oauth_unavailable(outage.redeem(code, verifier))
    _assert_oauth_unavailable(outage.userinfo(access_token))
    sso = outage.saml_sso()
    assert sso.status_code == 503 and int(sso.headers["Retry-After"]) > 0
    assert RESPONDER in outage.responder_status_of(sso)
    _assert_unavailable_page(outage, "/machtigen/")
    authorize = outage.oidc_authorize()  # the flow began, then Redis failed
    assert authorize.status_code == 503
    assert "error=temporarily_unavailable" in authorize.get_data(as_text=True)
    assert _healthz(outage) == (503, {"status": "unavailable", "database": "ok",
                                      "state": "unavailable"})

    outage.proxy.restore()
    redeemed = outage.redeem(code, verifier)  # the code was not used up by the failed try
    assert redeemed.status_code == 200, redeemed.get_data(as_text=True)
    assert outage.userinfo(access_token).status_code == 200
    claims = outage.userinfo(redeemed.get_json()["access_token"])
    assert claims.status_code == 200 and claims.get_json()["sub"]
    assert outage.saml_sso().status_code == 303  # on to the login
    assert outage.client().get("/machtigen/").status_code == 200
    assert _healthz(outage) == (200, {"status": "ok", "database": "ok", "state": "ok"})
    with outage.app.app_context():  # the failed login was recorded while Redis was down
        reasons = [entry.detail["reason"] for entry in db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "login.failed")).scalars()]
    assert reasons == ["ServiceUnavailableError"]
    _assert_audit_trail_intact(outage)


def test_the_oidc_client_hears_temporarily_unavailable_when_it_follows_the_page(
        redis_outage: Outage) -> None:
    redis_outage.proxy.cut()
    page = redis_outage.oidc_authorize().get_data(as_text=True)
    link = next(part for part in page.split('"') if part.startswith(REDIRECT))
    answer = parse_qs(urlsplit(link.replace("&amp;", "&")).query)
    assert answer["error"] == ["temporarily_unavailable"] and answer["state"] == ["st-1"]


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture
def database_outage(instance_path: Path, service_environ: dict[str, str]) -> Iterator[Outage]:
    url = services.postgresql_url() and service_environ.get("DATABASE_URL")
    if not url:
        pytest.skip("needs PostgreSQL: runs in the pass with DATABASE_URL set (the embedded "
                    "SQLite cannot go away)")
    with _cut_able("DATABASE_URL", url, 5432, instance_path, service_environ) as outage:
        yield outage


def test_with_the_database_cut_every_protocol_says_try_again_and_with_it_back_all_works(
        database_outage: Outage) -> None:
    outage = database_outage
    access_token = outage.redeem(*outage.code()).get_json()["access_token"]
    code, verifier = outage.code()
    outage.proxy.cut()

    _assert_oauth_unavailable(outage.redeem(code, verifier))
    _assert_oauth_unavailable(outage.userinfo(access_token))  # its client is in the database
    sso = outage.saml_sso()  # the SP is not found: no ACS validated, so a page only
    assert sso.status_code == 503 and posted_form(sso.get_data(as_text=True)) is None
    assert UNAVAILABLE_NL in sso.get_data(as_text=True)
    _assert_unavailable_page(outage, "/machtigen/")
    status, health = _healthz(outage)
    assert status == 503 and health["database"] == "unavailable"

    outage.proxy.restore()
    redeemed = outage.redeem(code, verifier)
    assert redeemed.status_code == 200, redeemed.get_data(as_text=True)
    assert outage.userinfo(access_token).status_code == 200
    claims = outage.userinfo(redeemed.get_json()["access_token"])
    assert claims.status_code == 200 and claims.get_json()["sub"]
    assert outage.saml_sso().status_code == 303
    assert outage.client().get("/machtigen/").status_code == 200
    assert _healthz(outage) == (200, {"status": "ok", "database": "ok", "state": "ok"})
    _assert_audit_trail_intact(outage)
