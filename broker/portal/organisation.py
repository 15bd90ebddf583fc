"""The organisation portal, under /machtigen/organisatie: an organisation's administrators
authorise employees, appoint administrators and give or revoke chain mandates.

People log in with eHerkenning through the broker's own flow, for the internal pseudo-service
:data:`ORG_PORTAL_SERVICE`, exactly as the citizen portal does with DigiD. Any employee of an
organisation may log in and look; only its administrators (tekenbevoegde, machtigingenbeheerder;
:meth:`Organisations.is_administrator`) may change anything, and the register checks that again.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import asdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint
from flask import abort
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from broker import loa as levels
from broker.context import BrokerContext
from broker.db import MockAccount
from broker.errors import InputError
from broker.portal import session
from broker.portal.frontend import take_ticket
from broker.register.bulk_import import ImportReport
from broker.register.bulk_import import Parsed
from broker.register.bulk_import import RowError
from broker.register.bulk_import import format_for
from broker.register.bulk_import import import_rows
from broker.register.bulk_import import read_csv
from broker.register.bulk_import import read_jsonl
from broker.register.models import Organisation
from broker.register.organisations import COMPANY_LEVELS
from broker.register.organisations import Organisations
from broker.register.service import Limits
from broker.services import ORG_PORTAL_SERVICE
from broker.services import Service
from broker.web import continuations
from broker.web.once import once
from broker.web.runtime import runtime

FRONTEND = "org_portal"
COOKIE = "broker_org_portal"
IDLE_SECONDS = session.IDLE_SECONDS

bp = Blueprint("org_portal", __name__, url_prefix="/machtigen/organisatie")
View = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class OrgUser:
    """An employee logged in to the portal for one organisation."""

    pseudonym: str
    kvk: str
    loa: str


ORG_SESSIONS = session.SessionKind(cookie=COOKIE, prefix="org-portal-session")


def start_session(context: BrokerContext, response: Response, user: OrgUser) -> None:
    """Remember ``user`` server-side; the cookie holds only a random token."""
    session.open_session(context, response, ORG_SESSIONS, asdict(user))


def current_user(context: BrokerContext) -> OrgUser | None:
    """The logged-in employee, extending the idle timeout; None when absent or timed out."""
    data = session.session_data(context, ORG_SESSIONS)
    return OrgUser(**data) if data else None


# -- pages -----------------------------------------------------------------------------------


def _context() -> BrokerContext:
    return runtime().context


def _organisations() -> Organisations:
    context = _context()
    return Organisations(context.session(), context.catalogue(), clock=context.clock,
                         limits=Limits(**context.settings.register))


@bp.get("/")
def home() -> Any:
    user = current_user(_context())
    if user is None:
        return render_template("portal/organisation/welcome.html")
    orgs = _organisations()
    given = orgs.given_by_organisation(user.kvk)
    received = orgs.received_by_organisation(user.kvk)
    return _page("portal/organisation/home.html", user, given=given, received=received,
                 clients=orgs.clients_of_intermediary(user.kvk))


@bp.post("/inloggen")
def login() -> Response:
    return continuations.begin(
        frontend=FRONTEND, requester=FRONTEND, requester_name=ORG_PORTAL_SERVICE.name,
        service=ORG_PORTAL_SERVICE, min_loa=ORG_PORTAL_SERVICE.min_loa,
        return_to=_context().url("/machtigen/organisatie/"), request_data={})


@bp.get("/sessie/<ticket>")
def begin_session(ticket: str) -> Response:
    context = _context()
    identity = take_ticket(context, FRONTEND, ticket)
    if identity is None:
        abort(404)
    organisation = identity.organisation
    if organisation is None or organisation.id_type != "kvk" or identity.acting.id_type != \
            "pseudonym":
        abort(403)
    response = redirect(url_for("org_portal.home"), 303)
    start_session(context, response, OrgUser(pseudonym=identity.acting.id, kvk=organisation.id,
                                             loa=identity.loa))
    return response


@bp.post("/uitloggen")
def logout() -> Response:
    response = redirect(url_for("org_portal.home"), 303)
    session.close_session(_context(), response, ORG_SESSIONS)
    return response


def logged_in(view: View) -> View:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current_user(_context())
        if user is None:
            return redirect(url_for("org_portal.home"), 303)
        if request.method == "POST" and not _organisations().is_administrator(user.kvk,
                                                                              user.pseudonym):
            return _page("portal/organisation/refused.html", user, status=403)
        return view(user, *args, **kwargs)
    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


@bp.route("/medewerkers", methods=["GET", "POST"])
@logged_in
def employees(user: OrgUser) -> Any:
    """Employees' authorisations: grant one per service and level, with the chain option."""
    orgs, error = _organisations(), None
    if request.method == "POST":
        try:
            return _once(user, "org_portal.employees", "granted", lambda: orgs.grant_company(
                kvk=user.kvk, employee=_employee(user, request.form.get("employee", "")),
                services=request.form.getlist("service"), loa=request.form.get("loa", ""),
                chain=request.form.get("chain") == "1", actor=user.pseudonym))
        except InputError as refused:
            error = refused
    granted = [m for m in orgs.given_by_organisation(user.kvk) if m.kind == "company"]
    return _page("portal/organisation/employees.html", user, error=error, granted=granted,
                 services=_services("company"), loas=COMPANY_LEVELS,
                 status=400 if error else 200)


@bp.post("/medewerkers/<mandate_id>/intrekken")
@logged_in
def withdraw(user: OrgUser, mandate_id: str) -> Any:
    return _act(user, "org_portal.employees", lambda orgs: orgs.withdraw_company(
        kvk=user.kvk, mandate_id=mandate_id, actor=user.pseudonym, reason=_reason()))


@bp.route("/beheerders", methods=["GET", "POST"])
@logged_in
def administrators(user: OrgUser) -> Any:
    """Who administers the organisation; appoint another employee as machtigingenbeheerder."""
    orgs, error = _organisations(), None
    if request.method == "POST":
        try:
            return _once(user, "org_portal.administrators", "appointed",
                         lambda: orgs.appoint_administrator(
                             kvk=user.kvk,
                             pseudonym=_employee(user, request.form.get("employee", "")),
                             actor=user.pseudonym))
        except InputError as refused:
            error = refused
    return _page("portal/organisation/administrators.html", user, error=error,
                 roles=orgs.administrators(user.kvk), status=400 if error else 200)


@bp.post("/beheerders/<int:role_id>/beeindigen")
@logged_in
def end_administrator(user: OrgUser, role_id: int) -> Any:
    return _act(user, "org_portal.administrators", lambda orgs: orgs.end_administrator(
        kvk=user.kvk, role_id=role_id, actor=user.pseudonym))


@bp.route("/keten", methods=["GET", "POST"])
@logged_in
def chains(user: OrgUser) -> Any:
    """Chain mandates this organisation gave and received; give one to an intermediary."""
    orgs, error = _organisations(), None
    if request.method == "POST":
        try:
            return _once(user, "org_portal.chains", "given", lambda: orgs.give_chain(
                client=user.kvk, intermediary=request.form.get("intermediary", ""),
                services=request.form.getlist("service"), actor=user.pseudonym))
        except InputError as refused:
            error = refused
    given = [m for m in orgs.given_by_organisation(user.kvk) if m.kind == "chain"]
    received = [m for m in orgs.received_by_organisation(user.kvk) if m.kind == "chain"]
    return _page("portal/organisation/chains.html", user, error=error, given=given,
                 received=received, services=_services("chain"), status=400 if error else 200)


@bp.post("/keten/<mandate_id>/intrekken")
@logged_in
def revoke_chain(user: OrgUser, mandate_id: str) -> Any:
    return _act(user, "org_portal.chains", lambda orgs: orgs.revoke_chain(
        mandate_id=mandate_id, actor=user.pseudonym, reason=_reason()))


# -- helpers ---------------------------------------------------------------------------------


def _once(user: OrgUser, page: str, done: str, change: Callable[[], object]) -> Response:
    """Make ``change`` once for the posted form (see :func:`broker.web.once.once`), then show
    ``page`` saying it is ``done``; a second sending of the form shows the same."""
    outcome = url_for(page, done=done)

    def make() -> str:
        change()
        return outcome

    return once(f"eh:{user.pseudonym}", make, earlier_default=outcome)


def _act(user: OrgUser, page: str, operation: Callable[[Organisations], Any]) -> Any:
    """Run a change; a refusal shows the message on a page of its own, nothing changed."""
    try:
        operation(_organisations())
    except InputError as refused:
        return _page("portal/organisation/refused.html", user, error=refused, back=page,
                     status=400)
    return redirect(url_for(page, done="1"), 303)


@bp.route("/importeren", methods=["GET", "POST"])
@logged_in
def bulk_import(user: OrgUser) -> Any:
    """Massaal machtigingen inlezen: administrators upload a CSV or JSON Lines file of mandates
    their own organisation gives (a row given by any other party is rejected)."""
    report, error = None, None
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            report = _import_upload(user, upload, dry_run=request.form.get("dry_run") == "1")
        except InputError as refused:
            error = refused
    return _page("portal/organisation/import.html", user, report=report, error=error,
                 status=400 if error else 200)


def _import_upload(user: OrgUser, upload: Any, *, dry_run: bool) -> ImportReport:
    if upload is None or not upload.filename:
        raise InputError("Kies een bestand.", "Choose a file.")
    rows = _rows_of(upload.stream.read(), format_for(Path(upload.filename)))
    organisation = _organisations().organisation(user.kvk)
    context = _context()
    return import_rows(
        context.session(), context.catalogue(), _given_by(rows, organisation),
        actor=f"eh:{user.pseudonym}", dry_run=dry_run,
        chain_depth=Limits(**context.settings.register).chain_depth)


def _rows_of(content: bytes, kind: str) -> list[Parsed]:
    """Every row of an upload, read before anything is written: a file that cannot be read
    as a whole (not UTF-8; a CSV line the csv module cannot read, see :func:`read_csv`) is
    refused with nothing imported, not half-way through the batches."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("Het bestand is geen UTF-8-tekst; sla het op als UTF-8.", "The file is "
                         "not UTF-8 text; save it as UTF-8.") from None
    handle = io.StringIO(text, newline="")
    return list(read_csv(handle) if kind == "csv" else read_jsonl(handle))


def _given_by(rows: Iterable[Parsed], organisation: Organisation) -> Iterator[Parsed]:
    """Rows whose represented party is not ``organisation`` (by KvK or RSIN) are rejected: an
    organisation mandates on its own behalf only."""
    own = {("kvk", organisation.kvk), ("rsin", organisation.rsin)}
    for line, fields in rows:
        if isinstance(fields, dict) and (str(fields.get("represented_type", "")).strip(),
                                         str(fields.get("represented", "")).strip()) not in own:
            yield line, RowError("niet gegeven door uw eigen organisatie",
                                 "not given by your own organisation")
        else:
            yield line, fields


def _page(template: str, user: OrgUser, *, status: int = 200, **values: Any) -> Response:
    orgs = _organisations()
    organisation = orgs.organisation(user.kvk)
    names = _employee_names(user.kvk)
    page = render_template(
        template, me=user, organisation=organisation, names=names,
        organisation_names=_organisation_names(), levels=levels,
        is_administrator=orgs.is_administrator(user.kvk, user.pseudonym),
        done=request.args.get("done"), **values)
    return make_response(page, status)


def _employee(user: OrgUser, pseudonym: str) -> str:
    """The chosen employee, who must work for the logged-in organisation."""
    if pseudonym not in _employee_names(user.kvk):
        raise InputError("Kies een medewerker van uw organisatie.", "Choose an employee of your "
                         "organisation.")
    return pseudonym


def _employee_names(kvk: str) -> dict[str, str]:
    """Employees by pseudonym. The demo knows them from the mock eHerkenning accounts."""
    rows = _context().session().execute(select(MockAccount).where(
        MockAccount.idp == "eherkenning")).scalars()
    return {row.identifier: row.name for row in rows
            if (row.extra or {}).get("organisation") == kvk}


def _organisation_names() -> dict[str, str]:
    rows = _context().session().execute(select(Organisation)).scalars()
    return {row.kvk: row.name for row in rows} | {row.rsin: row.name for row in rows}


def _services(accepts: str) -> list[Service]:
    return [s for s in _context().catalogue() if accepts in s.accepts]


def _reason() -> str | None:
    return request.form.get("reason", "").strip()[:500] or None
