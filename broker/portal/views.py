"""The portal's pages, under /machtigen."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import Blueprint
from flask import abort
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response

from broker.context import BrokerContext
from broker.errors import InputError
from broker.portal import forms
from broker.portal import session
from broker.portal.frontend import take_ticket
from broker.register.models import Mandate
from broker.register.models import Person
from broker.register.service import Register
from broker.services import PORTAL_SERVICE
from broker.services import Service
from broker.web import continuations
from broker.web.once import once
from broker.web.runtime import runtime

bp = Blueprint("portal", __name__, url_prefix="/machtigen")
View = Callable[..., Any]
#: how long a just-given mandate's activation code waits for its page to be shown
CODE_SHOWN_SECONDS = 600


def _context() -> BrokerContext:
    return runtime().context


def _register() -> Register:
    return _context().register()


def logged_in(view: View) -> View:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = session.current(_context())
        if user is None:
            return redirect(url_for("portal.home"), 303)
        return view(user, *args, **kwargs)
    return wrapper


@bp.get("/")
def home() -> Any:
    user = session.current(_context())
    if user is None:
        return render_template("portal/welcome.html")
    register = _register()
    given = register.given_by("bsn", user.bsn)
    received = register.received_by("bsn", user.bsn)
    return render_template(
        "portal/home.html", me=_person(user.bsn), given=given, received=received,
        requests=[m for m in given if m.state == "requested"], names=_names(given + received),
        services=_service_names(), letters=len(register.letters_for(user.bsn)))


@bp.post("/inloggen")
def login() -> Response:
    context = _context()
    return continuations.begin(
        frontend="portal", requester="portal", requester_name="Machtigingenportaal",
        service=PORTAL_SERVICE, min_loa=PORTAL_SERVICE.min_loa,
        return_to=context.url("/machtigen/"), request_data={})


@bp.get("/sessie/<ticket>")
def start_session(ticket: str) -> Response:
    context = _context()
    identity = take_ticket(context, "portal", ticket)
    if identity is None:
        abort(404)
    response = redirect(url_for("portal.home"), 303)
    session.start(context, response, session.PortalUser(bsn=identity.acting.id, loa=identity.loa))
    return response


@bp.post("/uitloggen")
def logout() -> Response:
    response = redirect(url_for("portal.home"), 303)
    session.end(_context(), response)
    return response


@bp.route("/geven", methods=["GET", "POST"])
@logged_in
def give(user: session.PortalUser) -> Any:
    """Give a mandate. The code is shown on a page of its own, once (post/redirect/get): a
    reload or a second click makes no second mandate and shows no second code."""
    choices = _voluntary_services()
    if request.method == "POST":
        try:
            return once(user.bsn, lambda: _given(user), earlier_default=url_for("portal.home"))
        except InputError as error:
            return _form("portal/give.html", error, services=choices)
    return _form("portal/give.html", None, services=choices)


def _given(user: session.PortalUser) -> str:
    mandate, code = _register().give(giver=user.bsn, services=forms.services(request.form),
                                     days=forms.period_days(request.form, date.today()))
    _context().store.put(_code_key(user, mandate.id), {"code": code}, CODE_SHOWN_SECONDS)
    return url_for("portal.code", mandate_id=mandate.id)


@bp.get("/geven/<mandate_id>/code")
@logged_in
def code(user: session.PortalUser, mandate_id: str) -> Any:
    """The activation code of a mandate just given, shown this once (a reload, or coming back
    later, says it was shown and what to do if it is lost)."""
    mandate = _visible(user, mandate_id)
    if mandate.represented_id != user.bsn:
        abort(404)
    kept = _context().store.take(_code_key(user, mandate_id))
    return render_template("portal/code.html", mandate=mandate,
                           code=kept["code"] if kept else None, me=_person(user.bsn),
                           services=_service_names())


@bp.route("/aanvragen", methods=["GET", "POST"])
@logged_in
def ask(user: session.PortalUser) -> Any:
    choices = _voluntary_services()
    if request.method == "POST":
        try:
            return once(user.bsn, lambda: _asked(user), earlier_default=url_for("portal.home"))
        except InputError as error:
            return _form("portal/ask.html", error, services=choices)
    return _form("portal/ask.html", None, services=choices)


def _asked(user: session.PortalUser) -> str:
    mandate = _register().ask(
        requester=user.bsn, represented_bsn=request.form.get("bsn", ""),
        birth_date=forms.birth_date(request.form), services=forms.services(request.form),
        days=forms.period_days(request.form, date.today()))
    return url_for("portal.asked", mandate_id=mandate.id)


@bp.get("/aanvragen/<mandate_id>/verstuurd")
@logged_in
def asked(user: session.PortalUser, mandate_id: str) -> Any:
    mandate = _visible(user, mandate_id)
    return render_template("portal/asked.html", mandate=mandate)


@bp.route("/activeren", methods=["GET", "POST"])
@logged_in
def activate(user: session.PortalUser) -> Any:
    """Activate a code. Sent twice (a reload, a double click), the second finds the mandate
    active for this person already and goes to it too: the register treats a code this
    person activated a moment ago as a right answer, not as a wrong attempt."""
    if request.method == "POST":
        try:
            mandate = _register().activate(
                activator=user.bsn, represented_bsn=request.form.get("bsn", ""),
                birth_date=forms.birth_date(request.form), code=request.form.get("code", ""))
        except InputError as error:
            return _form("portal/activate.html", error)
        return redirect(url_for("portal.detail", mandate_id=mandate.id, activated=1), 303)
    return _form("portal/activate.html", None)


@bp.get("/machtiging/<mandate_id>")
@logged_in
def detail(user: session.PortalUser, mandate_id: str) -> Any:
    mandate = _visible(user, mandate_id)
    return render_template("portal/detail.html", mandate=mandate, me=user,
                           names=_names([mandate]), services=_service_names(),
                           activated=request.args.get("activated"))


@bp.post("/machtiging/<mandate_id>/<action>")
@logged_in
def act(user: session.PortalUser, mandate_id: str, action: str) -> Any:
    register, reason = _register(), request.form.get("reason", "").strip()[:500] or None
    operations: dict[str, Callable[[], Mandate]] = {
        "intrekken": lambda: register.revoke(actor=user.bsn, mandate_id=mandate_id, reason=reason),
        "goedkeuren": lambda: register.approve(approver=user.bsn, mandate_id=mandate_id),
        "afwijzen": lambda: register.refuse(actor=user.bsn, mandate_id=mandate_id, reason=reason),
    }
    if action not in operations:
        abort(404)
    try:
        operations[action]()
    except InputError as error:
        mandate = _visible(user, mandate_id)
        return make_response(render_template(
            "portal/detail.html", mandate=mandate, me=user, names=_names([mandate]),
            services=_service_names(), error=error), 400)
    return redirect(url_for("portal.detail", mandate_id=mandate_id), 303)


@bp.get("/brievenbus")
@logged_in
def letters(user: session.PortalUser) -> str:
    return render_template("portal/letters.html", letters=_register().letters_for(user.bsn),
                           me=_person(user.bsn))


@bp.app_template_filter("service_names")
def service_names(uuids: list[str]) -> str:
    """ServiceUUIDs as the names people know them by."""
    names = _service_names()
    return ", ".join(names.get(uuid, uuid) for uuid in uuids)


def _code_key(user: session.PortalUser, mandate_id: str) -> str:
    """Where a just-given mandate's code waits to be shown to its giver (no BSN in the key)."""
    return f"portal-code:{hashlib.sha256(user.bsn.encode()).hexdigest()[:32]}:{mandate_id}"


def _form(template: str, error: InputError | None, **context: Any) -> Response:
    page = render_template(template, error=error, form=request.form,
                           today=date.today(), max_until=date.today() + timedelta(days=5 * 365),
                           **context)
    return make_response(page, 400 if error else 200)


def _visible(user: session.PortalUser, mandate_id: str) -> Mandate:
    """The mandate if the person is on either side of it; 404 otherwise (no existence leak)."""
    mandate = _context().session().get(Mandate, mandate_id)
    if mandate is None or user.bsn not in (mandate.represented_id, mandate.representative_id):
        abort(404)
    return mandate


def _person(bsn: str) -> Person | None:
    return _context().session().get(Person, bsn)


def _names(mandates: list[Mandate]) -> dict[str, str]:
    bsns = {m.represented_id for m in mandates} | {m.representative_id for m in mandates}
    people = [_person(bsn) for bsn in bsns if bsn]
    return {person.bsn: person.name for person in people if person is not None}


def _service_names() -> dict[str, str]:
    return {service.uuid: service.name for service in _context().catalogue()}


def _voluntary_services() -> list[Service]:
    return [s for s in _context().catalogue() if "voluntary" in s.accepts]
