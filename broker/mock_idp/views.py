"""The web side every mock identity provider shares: its metadata and SSO endpoints, checking a
login, and answering the service provider once per ticket. Each mock adds its login page and
what it asserts."""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError
from flask import Blueprint
from flask import make_response
from flask import redirect
from flask import request
from flask import url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response

from broker.accounts import second_factor
from broker.accounts.guard import AccountLocked
from broker.accounts.guard import TooManyAttempts
from broker.accounts.realms import backup_codes
from broker.accounts.realms import login_guard
from broker.context import BrokerContext
from broker.context import Continuation
from broker.db import MockAccount
from broker.errors import FlowError
from broker.mock_idp import engine
from broker.mock_idp.engine import PendingRequest
from broker.mock_idp.engine import ServiceProviders
from broker.saml import mock_idps
from broker.saml.mock_idps import MockIdpSpec
from broker.web.continuations import render_continuation

#: The demo world's public TOTP secret, shown on the login pages (data/demo-world.toml).
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXP"  # noqa: S105
_hasher = PasswordHasher()


class TicketError(FlowError):
    """A login at a mock IdP whose ticket is unknown, expired or used up."""

    def __init__(self, spec: MockIdpSpec, detail: str) -> None:
        super().__init__(
            f"mock {spec.idp}: {detail}",
            public_nl=f"Deze inlogpoging bij {spec.label} (nep) is verlopen of al gebruikt.",
            public_en=f"This login attempt at (mock) {spec.label} has expired or was already "
                      f"used.")


def add_protocol_routes(bp: Blueprint, context: BrokerContext, spec: MockIdpSpec,
                        csrf: CSRFProtect, service_providers: ServiceProviders,
                        check: Callable[[PendingRequest], None] | None = None) -> None:
    """``/metadata`` and ``/sso`` (Redirect and POST) on ``bp``; ``check`` may refuse a
    received request before a ticket is opened. The login page must be ``bp``'s ``login``."""

    @bp.get("/metadata")
    def metadata() -> Response:
        response = make_response(mock_idps.idp_metadata(context, spec))
        response.mimetype = "application/samlmetadata+xml"
        return response

    @bp.route("/sso", methods=["GET", "POST"])
    def sso() -> Response:
        sps = engine.trusted_sps(service_providers)
        if request.method == "POST":
            pending = engine.receive_post(context, spec, sps, request.form.to_dict())
        else:
            pending = engine.receive_redirect(context, spec, sps,
                                              request.query_string.decode("latin-1"))
        if check is not None:
            check(pending)
        ticket = engine.open_ticket(context, spec, pending)
        return redirect(url_for(f"{bp.name}.login", ticket=ticket), 303)

    csrf.exempt(sso)  # SPs post AuthnRequests cross-site; the login form keeps its token


def pending_or_refuse(context: BrokerContext, spec: MockIdpSpec, ticket: str) -> PendingRequest:
    pending = engine.pending_of(context, spec, ticket)
    if pending is None:
        raise TicketError(spec, "unknown, expired or used ticket")
    return pending


def account_or_page(context: BrokerContext, spec: MockIdpSpec, ticket: str,
                    pending: PendingRequest,
                    page: Callable[..., Response]) -> MockAccount | Response:
    """The account the posted form logs in to, or ``page(...)`` again saying why not: wrong
    (this ticket's attempts left), this ticket used up, the account locked (after
    ``max_failures`` wrong attempts in a row over any tickets), or this address held."""
    try:
        account = authenticate(context, spec, request.form.get("username", ""),
                               request.form.get("password", ""), request.form.get("code", ""))
    except TooManyAttempts as held:
        response = page(held="address", status=429)
        response.headers["Retry-After"] = str(held.retry_after)
        return response
    except AccountLocked as held:
        engine.record_failure(context, spec, ticket)  # an attempt at this ticket too
        return page(held="account", until=held.until, status=403)
    if account is None:
        left = engine.record_failure(context, spec, ticket)
        return page(locked=True, status=403) if left == 0 else page(failed=True, status=401)
    return account


def authenticate(context: BrokerContext, spec: MockIdpSpec, username: str, password: str,
                 code: str) -> MockAccount | None:
    """The account when username, password and (if it has one) TOTP code are right. Counts the
    attempt for the address and, for an existing account, towards its lock."""
    username = username.strip()[:100]
    guard = login_guard(context, spec.idp)
    attempt = guard.check(username, request.remote_addr or "unknown")
    account = context.session().get(MockAccount, (spec.idp, username))
    if account is not None and _matches(account, password, code, context):
        guard.succeeded(attempt)
        return account
    failure = guard.failed(attempt)  # an unknown account counts the same, telling nothing
    if failure.locked_until is not None:
        raise AccountLocked(failure.locked_until)
    return None


def _matches(account: MockAccount, password: str, code: str, context: BrokerContext) -> bool:
    if len(password) > 200:
        return False
    try:
        _hasher.verify(account.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if account.totp_secret:
        code = code.strip().replace(" ", "")
        return engine.totp_matches(account.totp_secret, code, context.clock()) or \
            _spend_backup_code(context, account, code)
    return True


@functools.lru_cache(maxsize=4)
def demo_totp_qr(label: str) -> str:
    """The demo world's TOTP secret as a QR code to scan (an SVG), for the mock's login page."""
    issuer = quote(f"{label} (mock)")
    return second_factor.qr_svg(f"otpauth://totp/{issuer}:demo?secret={DEMO_TOTP_SECRET}"
                                f"&issuer={issuer}")


def _spend_backup_code(context: BrokerContext, account: MockAccount, code: str) -> bool:
    """A backup code instead of the app's code (accounts an administrator gave codes to)."""
    if len(code) < 10:
        return False
    spent = backup_codes(context, account.idp).use(account.username, code)
    context.session().commit()
    return spent


def finish(context: BrokerContext, spec: MockIdpSpec, ticket: str,
           build: Callable[[PendingRequest], Continuation]) -> Response:
    """Consume the ticket (single use), then post the built answer to the SP."""
    pending = engine.take_ticket(context, spec, ticket)
    if pending is None:
        raise TicketError(spec, "ticket already used")
    return render_continuation(build(pending))
