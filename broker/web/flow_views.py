"""The broker's steps between frontend and connector: choose the upstream, check the result,
answer the relying party. Also the one error handler for every :class:`BrokerError`.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Blueprint
from flask import abort
from flask import g
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from broker import audit
from broker import loa
from broker.context import Continuation
from broker.db import one_transaction
from broker.errors import DATABASE
from broker.errors import STATE
from broker.errors import BrokerError
from broker.errors import FlowError
from broker.errors import InsufficientLoaError
from broker.errors import NoLoginMethodError
from broker.errors import RepresentationError
from broker.errors import UpstreamAnswerUsedError
from broker.errors import UpstreamCancelledError
from broker.flow import AUTHENTICATED
from broker.flow import STARTED
from broker.flow import UPSTREAM
from broker.flow import Flow
from broker.identity import Identity
from broker.identity import Party
from broker.pipeline import Option
from broker.pipeline import gather
from broker.services import Service
from broker.web import failures
from broker.web import security
from broker.web.runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("flow", __name__, url_prefix="/flow")


# -- called by frontends and connectors ------------------------------------------------------


def begin(*, frontend: str, requester: str, requester_name: str, service: Service, min_loa: str,
          return_to: str, request_data: dict[str, Any], upstream_hint: str | None = None,
          force_authn: bool = False, max_age: int | None = None) -> Response:
    """Start a flow for a validated request and send the browser on to authenticate.

    ``force_authn`` (SAML ForceAuthn, OIDC prompt=login) and ``max_age`` (OIDC; implies
    ``force_authn``) make the connector ask upstream for a fresh authentication and refuse an
    answer whose AuthnInstant is older than the flow.
    """
    rt = runtime()
    binding = security.browser_binding() or security.new_binding()
    flow = rt.context.flows.start(
        browser_binding=binding, frontend=frontend, requester=requester,
        requester_name=requester_name, service=service.uuid,
        min_loa=loa.highest([service.min_loa, min_loa]) or service.min_loa,
        return_to=return_to, request=request_data, upstream_hint=upstream_hint,
        force_authn=force_authn, max_age=max_age, stored=False)
    g.broker_flow = flow
    log.info("flow %s started by %s for service %s", _short(flow.id), requester, service.uuid)
    eligible = _eligible_connectors(service)
    if not eligible:
        raise NoLoginMethodError(f"no connector serves {service.via}")
    chosen = [name for name in eligible if name == upstream_hint] or (
        eligible if len(eligible) == 1 else [])
    response: Response = (
        make_response(rt.connectors[chosen[0]].start(flow)) if chosen
        else redirect(url_for("flow.upstream", flow_id=flow.id), 303))
    # a connector's upstream_started has stored the flow; else (the upstream choice page, or a
    # connector that recorded no request) it is stored here: one write either way
    rt.context.flows.keep(flow)
    security.ensure_browser_binding(response, binding)
    return response


def claimed(flow: Flow) -> None:
    """Tell the error handler which flow a cross-site callback belongs to."""
    g.broker_flow = flow


def authenticated(flow: Flow, identity: Identity, *,
                  mark: tuple[str, int] | None = None) -> Response:
    """A connector verified the upstream answer: record it (see :meth:`Flows.authenticated`;
    ``mark`` is the assertion's replay mark), continue in this browser. An answer whose
    request was used already, or that lost a race with the same answer, is refused on a page
    of its own: the flow belongs to the answer that won."""
    try:
        runtime().context.flows.authenticated(flow, identity, mark=mark)
    except UpstreamAnswerUsedError:
        g.broker_flow = None
        raise
    log.info("flow %s authenticated via %s at %s", _short(flow.id), identity.connector,
             identity.loa)
    return redirect(url_for("flow.resume", flow_id=flow.id), 303)


# -- the broker's own steps ------------------------------------------------------------------


@bp.route("/<flow_id>/upstream", methods=["GET", "POST"])
def upstream(flow_id: str) -> Any:
    rt = runtime()
    flow = _load(flow_id, STARTED, UPSTREAM)
    service = rt.service(flow.service)
    eligible = _eligible_connectors(service)
    if request.method == "POST":
        choice = request.form.get("connector", "")
        if choice not in eligible:
            abort(400)
        return rt.connectors[choice].start(flow)
    return render_template(
        "flow/upstream.html", flow=flow, service=service,
        connectors=[rt.connectors[name] for name in eligible])


@bp.get("/<flow_id>/continue")
def resume(flow_id: str) -> Any:
    """After authentication: check the level, then ask on whose behalf (when there is a choice).

    The choice page is shown here, not behind another redirect: one round trip fewer per login.
    Its form posts to :func:`choose`, which also shows it again (a reload, a way back)."""
    rt = runtime()
    flow = _load(flow_id, AUTHENTICATED)
    identity = flow.get_identity()
    if not loa.meets(identity.loa, flow.min_loa):
        raise InsufficientLoaError(f"reached {identity.loa}, needs {flow.min_loa}")
    service = rt.service(flow.service)
    options = _options(identity, service)
    if not options:
        if not service.allows_self:
            raise RepresentationError("nobody to represent for a service that needs it")
        return finish(flow, identity)
    if not service.allows_self and len(options) == 1:
        return finish(flow, identity.acting_for(*options[0].links))
    rt.context.flows.offer(flow, [option.to_dict() for option in options])
    return _chooser(flow, service, options)


@bp.route("/<flow_id>/choose", methods=["GET", "POST"])
def choose(flow_id: str) -> Any:
    """"On whose behalf do you want to log in?" The answer must be one of the offered options,
    and still valid when chosen (a mandate revoked meanwhile is gone)."""
    rt = runtime()
    flow = _load(flow_id, AUTHENTICATED)
    if not flow.options:
        raise FlowError("no choice was offered in this flow")
    identity = flow.get_identity()
    service = rt.service(flow.service)
    if request.method == "GET":
        return _chooser(flow, service, [Option.from_dict(o) for o in flow.options])
    choice = request.form.get("choice", "")
    offered = {Option.from_dict(o).key for o in flow.options}
    if choice == "self" and service.allows_self:
        return finish(flow, identity)
    current = {option.key: option for option in _options(identity, service)}
    if choice not in offered or choice not in current:
        raise RepresentationError("choice is not among the valid options")
    return finish(flow, identity.acting_for(*current[choice].links))


def _chooser(flow: Flow, service: Service, options: list[Option]) -> str:
    return render_template("flow/choose.html", flow=flow, service=service, options=options)


def _options(identity: Identity, service: Service) -> list[Option]:
    """The options now. The look-up only reads, and nothing is written before it in this
    request; its transaction ends with a COMMIT, not with the ROLLBACK at the request's end:
    psycopg forgets its prepared statements at every rollback, so PostgreSQL would parse and
    plan the chooser's statement again at every login."""
    rt = runtime()
    options = gather(rt.plugins.values(), identity, service, rt.context.clock())
    session = rt.context.session()
    if session.in_transaction():
        session.commit()
    return options


def finish(flow: Flow, identity: Identity) -> Response:
    """Consume the flow and carry ``identity`` to the relying party.

    The login is consumed, its audit entry written and the frontend's answer made in one
    transaction (with the SQL state store the OIDC code too); a frontend that fails, or a
    process that dies before the commit, leaves the flow as it was, to be completed again
    (or recorded as abandoned when it expires). The flow itself is forgotten after.
    """
    rt = runtime()
    with one_transaction(rt.context.session()):
        rt.context.flows.complete(flow)
        audit.record(rt.context.session(), actor=_party(identity.acting),
                     action="login.completed", subject=flow.requester,
                     detail=_login_detail(flow, identity))
        continuation = rt.frontends[flow.frontend].respond(identity, flow)
    rt.context.flows.forget(flow)
    log.info("flow %s completed for %s", _short(flow.id), flow.requester)
    return render_continuation(continuation)


def _login_detail(flow: Flow, identity: Identity) -> dict[str, Any]:
    """Who acted for whom, backed by which mandate, at which relying party, for which service.

    ``represents``: the represented party first, then the intermediaries in order (empty when
    acting for self); ``mandate``: the mandate behind the represented party; ``chain``: every
    link's mandate in order, when there are intermediaries.
    """
    links = identity.represents
    detail: dict[str, Any] = {
        "represents": [_party(link.party) for link in (*links[-1:], *links[:-1])],
        "relying_party": flow.requester, "frontend": flow.frontend, "service": flow.service,
        "level": identity.loa, "connector": identity.connector,
        "upstream": identity.upstream_issuer, "flow": flow.id,
    }
    if identity.organisation is not None:
        detail["organisation"] = _party(identity.organisation)
    if links:
        final = links[-1]
        detail["mandate"] = {"id": final.mandate_id, "kind": final.kind, "role": final.role}
    if len(links) > 1:
        detail["chain"] = [{"party": _party(link.party), "mandate": link.mandate_id,
                            "kind": link.kind} for link in links]
    return detail


def _closed_with_failure(flow: Flow, error: BrokerError) -> bool:
    """Close the failed login and write its login.failed entry, in one transaction; False
    when a concurrent step had closed it already."""
    context = runtime().context
    with one_transaction(context.session()):
        if not context.flows.close(flow):
            return False
        _record_failure(flow, error)
    return True


def _record_failure(flow: Flow, error: BrokerError) -> None:
    """Audit a login that ends in an error answered to the relying party."""
    acting = Identity.from_dict(flow.identity).acting if flow.identity else None
    audit.record(runtime().context.session(),
                 actor=_party(acting) if acting else "anonymous", action="login.failed",
                 subject=flow.requester,
                 detail={"reason": type(error).__name__, "error": error.oidc_error,
                         "relying_party": flow.requester, "frontend": flow.frontend,
                         "service": flow.service, "connector": flow.connector,
                         "state": flow.state, "flow": flow.id})


def _party(party: Party) -> str:
    return audit.party(party.id_type, party.id)


def render_continuation(continuation: Continuation) -> Response:
    if continuation.method == "GET":
        return redirect(continuation.url, 303)
    return make_response(render_template("flow/post.html", continuation=continuation))


def _load(flow_id: str, *states: str) -> Flow:
    flow = runtime().context.flows.load(flow_id, security.browser_binding(), *states)
    g.broker_flow = flow
    return flow


def _eligible_connectors(service: Service) -> list[str]:
    return [name for name, connector in runtime().connectors.items() if connector.via == service.via]


def _short(flow_id: str) -> str:
    """Enough of a flow id to follow it in the log, too little to use it."""
    return flow_id[:8]


# -- errors ----------------------------------------------------------------------------------


def handle_broker_error(error: BrokerError) -> Response:
    """Answer any BrokerError: the relying party's protocol error where its return address is
    known and validated, and always a clear page with an error id for the person."""
    error_id = secrets.token_hex(6)
    flow: Flow | None = g.get("broker_flow")
    log.warning("error %s: %s: %s (flow %s)", error_id, type(error).__name__, error.detail,
                _short(flow.id) if flow else "-")
    continuation = None
    if flow is not None and not isinstance(error, FlowError):
        rt = runtime()
        frontend = rt.frontends.get(flow.frontend)
        if frontend is not None:
            session = rt.context.session()
            failures.roll_back(session)  # nothing half-done by the failed step is committed below
            # with the database or the state store down, the person still gets the answer
            closed_here = failures.best_effort(
                lambda: _closed_with_failure(flow, error), "recording the failed login",
                needs=DATABASE, cause=error, session=session)
            if closed_here is not False:  # False: a concurrent step ended it, and answered
                continuation = frontend.respond_error(error, flow)
            failures.best_effort(lambda: rt.context.flows.forget(flow), "ending the flow",
                                 needs=STATE, cause=error, session=session)
    if continuation is not None and isinstance(error, UpstreamCancelledError):
        return render_continuation(continuation)
    connector = runtime().connectors.get(flow.connector) if flow and flow.connector else None
    page = render_template("error.html", error=error, error_id=error_id,
                           continuation=continuation, flow=flow,
                           via=connector.via if connector else None)
    return make_response(page, error.http_status)


def handle_http_error(error: HTTPException) -> Response:
    page = render_template("error.html", error=None, http_error=error,
                           error_id=secrets.token_hex(6), continuation=None, flow=None)
    return make_response(page, error.code or 500)
