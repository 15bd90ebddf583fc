"""Web adapter for :mod:`broker.accounts`: the administrators' login and account pages.

A login is two steps on one server-side session whose token changes at every step (no session
fixation): the password, then the second factor (a TOTP code or a backup code). An account
without a confirmed second factor must set one up before it gets any further. The session's
``stage`` says how far it got: ``code``, ``setup`` or ``in``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response

from broker import audit
from broker.accounts import second_factor
from broker.accounts.guard import AccountLocked
from broker.accounts.guard import LoginGuard
from broker.accounts.guard import TooManyAttempts
from broker.accounts.models import ADMIN_REALM
from broker.accounts.policy import AccountPolicy
from broker.accounts.realms import backup_codes
from broker.accounts.realms import login_guard
from broker.accounts.service import Accounts
from broker.context import BrokerContext
from broker.db import MockAccount
from broker.errors import InputError
from broker.web import sessions
from broker.web.runtime import runtime

bp = Blueprint("admin", __name__, url_prefix="/admin")
SESSIONS = sessions.SessionKind(cookie="broker_admin", prefix="admin-session")
View = Callable[..., Any]


def _context() -> BrokerContext:
    return runtime().context


def _accounts() -> Accounts:
    context = _context()
    return Accounts(context.session, context.store,
                    AccountPolicy.from_settings(context.settings.accounts), context.clock,
                    context.settings.secret_key)


def _address() -> str:
    return request.remote_addr or "unknown"


def _stage(wanted: str) -> str | None:
    """The username of the session when it is at ``wanted``."""
    data = sessions.session_data(_context(), SESSIONS)
    return data["username"] if data and data.get("stage") == wanted else None


def _to_stage(username: str, stage: str, target: str) -> Response:
    """Move the login on to ``stage`` and redirect to ``target``."""
    return _move_session(redirect(url_for(target), 303), username, stage)


def _move_session(response: Response, username: str, stage: str) -> Response:
    """Put the login at ``stage`` under a fresh session token (no fixation), on ``response``."""
    context = _context()
    sessions.close_session(context, response, SESSIONS)
    sessions.open_session(context, response, SESSIONS, {"username": username, "stage": stage})
    return response


def _held(error: AccountLocked | TooManyAttempts, template: str, **values: Any) -> Response:
    """The page again with the lock or the rate limit explained; 429 carries Retry-After."""
    if isinstance(error, TooManyAttempts):
        page = make_response(render_template(template, held="address", **values), 429)
        page.headers["Retry-After"] = str(error.retry_after)
        return page
    return make_response(render_template(template, held="account", until=error.until,
                                         **values), 403)


# -- logging in --------------------------------------------------------------------------------


@bp.route("/inloggen", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("admin/login.html")
    username = request.form.get("username", "").strip().lower()[:64]
    accounts = _accounts()
    try:
        account = accounts.check_password(username, request.form.get("password", ""),
                                          _address())
    except (AccountLocked, TooManyAttempts) as held:
        return _held(held, "admin/login.html", username=username)
    except InputError as refused:
        return make_response(render_template("admin/login.html", error=refused,
                                             username=username), 401)
    if account.totp_confirmed_at is None:
        return _to_stage(account.username, "setup", "admin.setup")
    return _to_stage(account.username, "code", "admin.code")


@bp.route("/inloggen/code", methods=["GET", "POST"])
def code() -> Any:
    username = _stage("code")
    if username is None:
        return redirect(url_for("admin.login"), 303)
    if request.method == "GET":
        return render_template("admin/code.html")
    accounts = _accounts()
    try:
        method = accounts.check_second_factor(username, request.form.get("code", ""),
                                              _address())
    except (AccountLocked, TooManyAttempts) as held:
        return _held(held, "admin/code.html")
    except InputError as refused:
        return make_response(render_template("admin/code.html", error=refused), 401)
    accounts.logged_in(username, method)
    response = _to_stage(username, "in", "admin.home")
    if method == "backup":
        response.headers["Location"] = url_for("admin.home", backup_left=1)
    return response


@bp.route("/tweede-stap", methods=["GET", "POST"])
def setup() -> Any:
    """Set up TOTP: scan the QR code (or type the secret), confirm with a first code, and
    receive ten backup codes, shown this once."""
    username = _stage("setup")
    if username is None:
        return redirect(url_for("admin.login"), 303)
    accounts = _accounts()
    secret = accounts.begin_totp(username)
    values = {"qr": second_factor.qr_svg(second_factor.provisioning_uri(secret, username)),
              "secret": second_factor.grouped(secret)}
    if request.method == "GET":
        return render_template("admin/setup.html", **values)
    try:
        codes = accounts.confirm_totp(username, request.form.get("code", ""), _address())
    except (AccountLocked, TooManyAttempts) as held:
        return _held(held, "admin/setup.html", **values)
    except InputError as refused:
        return make_response(render_template("admin/setup.html", error=refused, **values), 400)
    accounts.logged_in(username, "totp")
    return _move_session(make_response(render_template("admin/backup_codes.html", codes=codes,
                                                        first=True)), username, "in")


@bp.post("/uitloggen")
def logout() -> Response:
    response = redirect(url_for("admin.login"), 303)
    sessions.close_session(_context(), response, SESSIONS)
    return response


def logged_in(view: View) -> View:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        username = _stage("in")
        if username is None or _accounts().get(username) is None:
            return redirect(url_for("admin.login"), 303)
        return view(username, *args, **kwargs)
    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


# -- the pages behind the login ----------------------------------------------------------------


@bp.get("/")
@logged_in
def home(me: str) -> Any:
    return _home(me)


def _home(me: str, *, status: int = 200, **values: Any) -> Response:
    accounts = _accounts()
    context = _context()
    rows = [{"account": account, "locked_until": accounts.guard.locked_until(account.username),
             "codes_left": accounts.backup_codes_left(account.username)}
            for account in accounts.all()]
    mock = [{"account": account, "locked_until": _guard(account.idp).locked_until(
        account.username)} for account in context.session().query(MockAccount).order_by(
        MockAccount.idp, MockAccount.username)]
    page = render_template("admin/home.html", me=me, rows=rows, mock=mock,
                           backup_left=request.args.get("backup_left") and
                           accounts.backup_codes_left(me), **values)
    return make_response(page, status)


def _guard(realm: str) -> LoginGuard:
    return login_guard(_context(), realm)


@bp.post("/accounts/<realm>/<username>/vrijgeven")
@logged_in
def unlock(me: str, realm: str, username: str) -> Any:
    """Lift the lock of an administrator account or of a mock identity provider's account."""
    context = _context()
    if realm == ADMIN_REALM:
        try:
            _accounts().unlock(username, by=f"admin:{me}")
        except InputError as refused:
            return _home(me, status=404, error=refused)
    else:
        if context.session().get(MockAccount, (realm, username)) is None:
            return _home(me, status=404, error=InputError(
                "Onbekend account.", "Unknown account."))
        _guard(realm).unlock(username)
        audit.record(context.session(), actor=f"admin:{me}", action="admin.account_unlocked",
                     subject=f"{realm}:{username}")
        context.session().commit()
    return redirect(url_for("admin.home", done="unlocked"), 303)


@bp.post("/accounts/<realm>/<username>/reservecodes")
@logged_in
def mock_backup_codes(me: str, realm: str, username: str) -> Any:
    """Ten new backup codes for a mock identity provider's account, shown once, for the
    administrator to hand to its holder (as a helpdesk would); the old ones stop working."""
    context = _context()
    if realm == ADMIN_REALM or context.session().get(MockAccount, (realm, username)) is None:
        return _home(me, status=404, error=InputError("Onbekend account.", "Unknown account."))
    codes = backup_codes(context, realm).replace(username)
    audit.record(context.session(), actor=f"admin:{me}", action="admin.backup_codes_issued",
                 subject=f"{realm}:{username}")
    context.session().commit()
    return render_template("admin/backup_codes.html", codes=codes, first=False,
                           holder=f"{realm}:{username}")


@bp.post("/accounts/admin/<username>/tweede-stap-herstellen")
@logged_in
def reset_second_factor(me: str, username: str) -> Any:
    if username == me:
        return _home(me, status=400, error=InputError(
            "Herstel uw eigen tweede stap via een andere beheerder.", "Ask another "
            "administrator to reset your own second factor."))
    try:
        _accounts().reset_second_factor(username, by=f"admin:{me}")
    except InputError as refused:
        return _home(me, status=404, error=refused)
    return redirect(url_for("admin.home", done="reset"), 303)


@bp.route("/mijn-account", methods=["GET", "POST"])
@logged_in
def my_account(me: str) -> Any:
    """Change one's own password or e-mail address, or get new backup codes."""
    accounts = _accounts()
    account = accounts.get(me)
    if request.method == "GET":
        return render_template("admin/account.html", account=account,
                               codes_left=accounts.backup_codes_left(me))
    form = request.form
    action = form.get("action")
    try:
        if action == "password":
            accounts.change_password(me, form.get("current", ""), form.get("new", ""),
                                     form.get("repeat", ""), _address())
        elif action == "email":
            accounts.change_email(me, form.get("password", ""), form.get("email", ""),
                                  _address())
        elif action == "backup_codes":
            return render_template("admin/backup_codes.html",
                                   codes=accounts.new_backup_codes(me), first=False)
        else:
            raise InputError("Onbekende actie.", "Unknown action.")
    except (AccountLocked, TooManyAttempts) as held:
        response = logout()
        if isinstance(held, AccountLocked):
            return response  # the lock ends this session too
        return _held(held, "admin/account.html", account=account,
                     codes_left=accounts.backup_codes_left(me))
    except InputError as refused:
        return make_response(render_template(
            "admin/account.html", account=account, error=refused, failed=action,
            codes_left=accounts.backup_codes_left(me)), 400)
    return redirect(url_for("admin.my_account", done=action), 303)


@bp.get("/audit")
@logged_in
def audit_trail(me: str) -> Any:
    context = _context()
    check = audit.verify(context.session())
    entries = audit.recent(context.session(), 50)
    return render_template("admin/audit.html", me=me, check=check, entries=entries)

