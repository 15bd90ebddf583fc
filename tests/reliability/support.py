"""What the reliability tests share: a browser logged in everywhere, raw requests sent to the
app exactly as given, and a fingerprint of the register to show that nothing changed."""

from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import unquote_to_bytes
from urllib.parse import urlsplit

import pyotp
from flask import Flask
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy.pool import NullPool
from werkzeug.test import run_wsgi_app

from broker import schema
from broker.db import sqlalchemy_url
from tests.flows.browser import Browser
from tests.flows.test_portal import portal_login

#: the marker of an injected script; never to appear as such in an HTML answer
XSS = '"><script>alert(1)</script>'
XSS_UNESCAPED = "<script>alert(1)</script>"
ADMIN, ADMIN_PASSWORD = "beheerder", "beheer-demo-2026"  # the demo world's administrator
#: accounts the reliability tests make for themselves (``fuzz-code``, ``fuzz-setup``)
OWN_ACCOUNTS = "fuzz-"
#: the tables whose rows no malformed request may change: the register and the accounts
REGISTER_TABLES = (
    "mandate", "mandate_event", "activation_code", "letter", "organisation",
    "organisation_role", "brp_person", "admin_account", "backup_code", "mock_account",
    "oidc_client", "service_provider", "service", "form_submission",
)


# -- logging in everywhere ---------------------------------------------------------------------


def log_in_everywhere(browser: Browser) -> str:
    """Log ``browser`` in to the mandate portal (DigiD ``jan``), the organisation portal
    (eHerkenning ``beheer``, an administrator of the bakery) and the administrators' pages
    (``beheerder``, setting up the second factor); returns a valid CSRF token."""
    portal_login(browser, "jan")
    organisation_portal_login(browser, "beheer")
    administrator_login(browser)
    return csrf_token(browser)


def organisation_portal_login(browser: Browser, username: str) -> None:
    browser.open(browser.broker_url + "/machtigen/organisatie/")
    browser.submit("form[action$='/machtigen/organisatie/inloggen']")
    browser.login_at_mock_eherkenning(username)
    assert browser.last is not None and browser.last.url.endswith("/machtigen/organisatie/")


def administrator_login(browser: Browser) -> None:
    """The demo administrator's first login: password, then the TOTP set-up it demands."""
    browser.open(f"{browser.broker_url}/admin/inloggen")
    browser.submit("form", {"username": ADMIN, "password": ADMIN_PASSWORD})
    assert browser.last is not None and browser.last.url.endswith("/admin/tweede-stap")
    secret = browser.page().cssselect(".secret-display code")[0].text_content().replace(" ", "")
    browser.submit("form", {"code": pyotp.TOTP(secret).now()})
    assert browser.page().cssselect(".backup-codes li"), browser.text()


def csrf_token(browser: Browser) -> str:
    browser.open(browser.broker_url + "/machtigen/activeren")
    return str(browser.page().xpath("//input[@name='csrf_token']/@value")[0])


def cookie_header(browser: Browser) -> str:
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in browser.session.cookies)


# -- raw requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One request as it reaches the app: the path as on the request line (percent-encoded;
    gunicorn decodes it to bytes for PATH_INFO), the raw query, headers and body."""

    method: str
    path: str
    query: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    content_type: str | None = None
    #: bytes of body announced but not sent (a client that stops half-way)
    missing: int = 0
    #: the values the path variables were given for the well-formed request
    path_values: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)

    def describe(self) -> str:
        return (f"{self.method} {self.path}?{self.query[:200]!r} headers={self.headers!r} "
                f"type={self.content_type!r} body={self.body[:300]!r} ({len(self.body)} bytes, "
                f"{self.missing} missing) [{', '.join(self.notes)}]")


@dataclass(frozen=True)
class Answered:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def mimetype(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def send(app: Flask, probe: Probe, *, base_url: str, cookies: str = "") -> Answered:
    """``probe`` through the app's WSGI interface, byte for byte, as a server would hand it
    over; each request in an app context of its own, as under gunicorn."""
    host = urlsplit(base_url).netloc
    environ: dict[str, Any] = {
        "REQUEST_METHOD": probe.method, "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(probe.path).decode("latin-1"),
        "QUERY_STRING": probe.query.decode("latin-1"), "SERVER_NAME": host.split(":")[0],
        "SERVER_PORT": host.rpartition(":")[2] or "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": host, "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(probe.body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False,
        "wsgi.run_once": False, "CONTENT_LENGTH": str(len(probe.body) + probe.missing),
    }
    if probe.content_type is not None:
        environ["CONTENT_TYPE"] = probe.content_type
    own_cookies = [value for name, value in probe.headers if name.lower() == "cookie"]
    if cookies or own_cookies:
        environ["HTTP_COOKIE"] = _cookies_replaced(cookies, own_cookies)
    for name, value in probe.headers:
        if name.lower() != "cookie":
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    body, status, headers = run_wsgi_app(app, environ, buffered=True)
    try:
        content = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return Answered(int(status.split()[0]), dict(headers), content)


def _cookies_replaced(cookies: str, replacements: list[str]) -> str:
    """``cookies`` (``a=1; b=2``) with each of ``replacements`` (``b=x``) instead of the
    cookie of its name: a server reads the first of two cookies of one name."""
    replaced = {cookie.split("=", 1)[0] for cookie in replacements}
    kept = [cookie for cookie in cookies.split("; ")
            if cookie and cookie.split("=", 1)[0] not in replaced]
    return "; ".join([*kept, *replacements])


# -- the register, unchanged -------------------------------------------------------------------


class RegisterFingerprint:
    """A digest of every row of :data:`REGISTER_TABLES`, read over a connection of its own."""

    def __init__(self, database_url: str) -> None:
        pool = {"poolclass": NullPool} if database_url.startswith("sqlite") else {}
        self._engine: Engine = create_engine(sqlalchemy_url(database_url), **pool)
        tables = schema.metadata().tables
        self._tables = [tables[name] for name in REGISTER_TABLES]

    def take(self) -> dict[str, tuple[int, str]]:
        """(rows, digest) per table. The accounts the fuzz logs in with at the code and set-up
        steps (:data:`OWN_ACCOUNTS`) do not count: their wrong codes count against them, by
        design. (Wrong attempts and locks live in the state store, not in these tables.)"""
        taken = {}
        with self._engine.connect() as connection:
            for table in self._tables:
                rows = [row._mapping for row in connection.execute(select(table))]
                rows = [row for row in rows
                        if not str(row.get("username", "")).startswith(OWN_ACCOUNTS)]
                lines = sorted(repr(tuple(row.values())) for row in rows)
                taken[table.name] = (len(lines), hashlib.sha256("\n".join(lines).encode())
                                     .hexdigest())
        return taken

    def close(self) -> None:
        self._engine.dispose()


@contextmanager
def fingerprint_of(database_url: str) -> Iterator[RegisterFingerprint]:
    fingerprint = RegisterFingerprint(database_url)
    try:
        yield fingerprint
    finally:
        fingerprint.close()


# -- what the bad input is sent to -------------------------------------------------------------


class LiveTargets:
    """Path values and sessions that name something live, so that bad input in the query,
    body or headers reaches what lies behind them: a fresh mock identity provider ticket and
    a fresh flow of this browser for every request, one of jan's mandates, and administrator
    sessions at the code and set-up steps of a login (of accounts of their own, whose wrong
    codes count against them, by design)."""

    STAGE_ACCOUNTS = {"admin.code": ("fuzz-code", "code"), "admin.setup": ("fuzz-setup", "setup")}

    def __init__(self, app: Flask, browser: Browser) -> None:
        self.app = app
        self.binding = browser.session.cookies.get("broker_browser") or ""
        with app.test_request_context():
            context = app.extensions["broker"].context
            self._pending = {name: self._pending_login(browser, name)
                             for name in ("digid", "eherkenning")}
            self.stage_cookies = {endpoint: self._stage_session(context, *account)
                                  for endpoint, account in self.STAGE_ACCOUNTS.items()}
            self.mandate = self._mandate_of_jan(context)

    def path_values(self, endpoint: str) -> dict[str, str]:
        """Values for the path variables of ``endpoint`` (none: the default ones)."""
        with self.app.test_request_context():
            if endpoint in ("mock_digid.login", "mock_eherkenning.login"):
                return {"ticket": self._fresh_ticket(endpoint.split(".")[0].split("_")[1])}
            if endpoint.startswith("flow."):
                return {"flow_id": self._fresh_flow(endpoint)}
        if endpoint == "portal.detail":
            return {"mandate_id": self.mandate}
        return {}

    def cookie_for(self, endpoint: str) -> str | None:
        """The administrator session ``endpoint`` needs, when the logged-in one will not do."""
        token = self.stage_cookies.get(endpoint)
        return f"broker_admin={token}" if token else None

    def _pending_login(self, browser: Browser, idp: str) -> Any:
        """The request a login through the portal sent to mock ``idp``, as it waits there."""
        from broker.mock_idp import digid
        from broker.mock_idp import eherkenning
        from broker.mock_idp import engine

        portal = "/machtigen/" if idp == "digid" else "/machtigen/organisatie/"
        other = Browser(browser.broker_url)
        other.open(browser.broker_url + portal)
        other.submit(f"form[action$='{portal}inloggen']")
        assert other.last is not None
        ticket = other.last.url.rsplit("/", 1)[1]
        spec = digid.SPEC if idp == "digid" else eherkenning.SPEC
        pending = engine.pending_of(self.app.extensions["broker"].context, spec, ticket)
        assert pending is not None, f"no login waiting at mock {idp}"
        return spec, pending

    def _fresh_ticket(self, idp: str) -> str:
        from broker.mock_idp import engine

        spec, pending = self._pending[idp]
        return str(engine.open_ticket(self.app.extensions["broker"].context, spec, pending))

    def _fresh_flow(self, endpoint: str) -> str:
        from datetime import UTC
        from datetime import datetime

        from broker.identity import Identity
        from broker.identity import Link
        from broker.identity import Party
        from broker.pipeline import Option
        from broker.portal.frontend import PORTAL_SERVICE

        context = self.app.extensions["broker"].context
        flow = context.flows.start(
            browser_binding=self.binding, frontend="portal", requester="portal",
            requester_name="Machtigingenportaal", service=PORTAL_SERVICE.uuid, min_loa="low",
            return_to=context.url("/machtigen/"), request={})
        if endpoint != "flow.upstream":
            jan = Identity(acting=Party(id="999993653", id_type="bsn"), loa="substantial",
                           connector="digid", authn_instant=datetime.now(UTC))
            context.flows.authenticated(flow, jan)
            context.flows.offer(flow, [Option(links=(Link(
                party=Party(id="999990676", id_type="bsn"), mandate_id="m", kind="voluntary"),),
                source="fuzz")])
        return str(flow.id)

    def _stage_session(self, context: Any, username: str, stage: str) -> str:
        import secrets

        from broker.accounts.policy import AccountPolicy
        from broker.accounts.service import Accounts
        from broker.admin.views import SESSIONS
        from broker.portal import session

        Accounts(context.session, context.store, AccountPolicy(), context.clock,
                 context.settings.secret_key).create(
            username, f"{username}@example.nl", "een-lang-wachtwoord", by="cli:test")
        token = secrets.token_urlsafe(32)
        context.store.put(session.key(SESSIONS, token), {"username": username, "stage": stage},
                          session.IDLE_SECONDS)
        return token

    def _mandate_of_jan(self, context: Any) -> str:
        from broker.register.models import Mandate

        mandate = context.session().query(Mandate).filter_by(represented_id="999993653").first()
        assert mandate is not None
        return str(mandate.id)
