"""The broker's own pages of a login (the upstream choice, the level check, "on whose
behalf?"), as HTTP around the steps of :mod:`broker.login`; and the one error handler for
every :class:`BrokerError`.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Blueprint
from flask import abort
from flask import make_response
from flask import render_template
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from broker.context import Continuation
from broker.errors import DATABASE
from broker.errors import STATE
from broker.errors import BrokerError
from broker.errors import FlowError
from broker.errors import UpstreamCancelledError
from broker.flow import Flow
from broker.login import Chooser
from broker.login import short_id
from broker.web import failures
from broker.web import security
from broker.web.continuations import render_continuation
from broker.web.runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("flow", __name__, url_prefix="/flow")


@bp.route("/<flow_id>/upstream", methods=["GET", "POST"])
def upstream(flow_id: str) -> Any:
    login = runtime().login
    choice = login.upstream_choice(flow_id, security.browser_binding())
    if request.method == "POST":
        name = request.form.get("connector", "")
        if name not in choice.connectors:
            abort(400)
        return login.go_upstream(choice, name).answer
    return render_template("flow/upstream.html", flow=choice.flow, service=choice.service,
                           connectors=list(choice.connectors.values()))


@bp.get("/<flow_id>/continue")
def resume(flow_id: str) -> Response | str:
    """After authentication: the level check, then "on whose behalf?" when there is a choice
    (shown here, not behind another redirect), else the relying party's answer."""
    after = runtime().login.resume(flow_id, security.browser_binding())
    return _chooser(after) if isinstance(after, Chooser) else render_continuation(after)


@bp.route("/<flow_id>/choose", methods=["GET", "POST"])
def choose(flow_id: str) -> Response | str:
    """"On whose behalf do you want to log in?": the answer (POST), or the question again
    (a reload, a way back)."""
    login = runtime().login
    if request.method == "GET":
        return _chooser(login.chooser(flow_id, security.browser_binding()))
    return render_continuation(login.choose(flow_id, security.browser_binding(),
                                            request.form.get("choice", "")))


def _chooser(chooser: Chooser) -> str:
    return render_template("flow/choose.html", flow=chooser.flow, service=chooser.service,
                           options=chooser.options)


# -- errors ----------------------------------------------------------------------------------


def handle_broker_error(error: BrokerError) -> Response:
    """Answer any BrokerError: the relying party's protocol error where its return address is
    known and validated (the flow the error carries), and always a clear page with an error
    id for the person."""
    error_id = secrets.token_hex(6)
    flow = error.flow
    log.warning("error %s: %s: %s (flow %s)", error_id, type(error).__name__, error.detail,
                short_id(flow.id) if flow else "-")
    continuation = None
    if flow is not None and not isinstance(error, FlowError):
        rt = runtime()
        frontend = rt.frontends.get(flow.frontend)
        if frontend is not None:
            continuation = _answered_failure(flow, error, frontend)
    if continuation is not None and isinstance(error, UpstreamCancelledError):
        return render_continuation(continuation)
    connector = runtime().connectors.get(flow.connector) if flow and flow.connector else None
    page = render_template("error.html", error=error, error_id=error_id,
                           continuation=continuation, flow=flow,
                           via=connector.via if connector else None)
    return make_response(page, error.http_status)


def _answered_failure(flow: Flow, error: BrokerError, frontend: Any) -> Continuation | None:
    """Close the failed login, record it and forget the flow, as far as the parts that are up
    allow; the frontend's error answer for the relying party, unless a concurrent step ended
    the login (and answered) first."""
    rt = runtime()
    session = rt.context.session()
    failures.roll_back(session)  # nothing half-done by the failed step is committed below
    # with the database or the state store down, the person still gets the answer
    closed_here = failures.best_effort(
        lambda: rt.login.closed_with_failure(flow, error), "recording the failed login",
        needs=DATABASE, cause=error, session=session)
    continuation = None
    if closed_here is not False:  # False: a concurrent step ended it, and answered
        continuation = frontend.respond_error(error, flow)
    failures.best_effort(lambda: rt.context.flows.forget(flow), "ending the flow",
                         needs=STATE, cause=error, session=session)
    return continuation


def handle_http_error(error: HTTPException) -> Response:
    page = render_template("error.html", error=None, http_error=error,
                           error_id=secrets.token_hex(6), continuation=None, flow=None)
    return make_response(page, error.code or 500)
