"""The login's steps between frontend and connector: start a flow, record the upstream's
answer, check the level, ask on whose behalf, answer the relying party, close a login that
failed.

Plain Python, no Flask: each step takes what it needs (the flow's id and the browser's binding,
a choice) and returns what happens next, a :class:`~broker.context.Continuation` ("send the
browser there") or one of the small values below; the web layer (:mod:`broker.web.flow_views`,
:mod:`broker.web.continuations`) turns those into HTTP. An error raised in a step carries the
flow it belongs to (:meth:`~broker.errors.BrokerError.in_flow`), so that its answer can go to
that flow's relying party.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from broker import audit
from broker import loa
from broker.components import Connector
from broker.components import Frontend
from broker.context import BrokerContext
from broker.context import Continuation
from broker.db import one_transaction
from broker.errors import BrokerError
from broker.errors import FlowError
from broker.errors import InsufficientLoaError
from broker.errors import NoLoginMethodError
from broker.errors import RepresentationError
from broker.errors import UpstreamAnswerUsedError
from broker.flow import AUTHENTICATED
from broker.flow import STARTED
from broker.flow import UPSTREAM
from broker.flow import Flow
from broker.identity import Identity
from broker.identity import Party
from broker.pipeline import MandateSource
from broker.pipeline import Option
from broker.pipeline import gather
from broker.services import Service

log = logging.getLogger(__name__)

#: the broker error a library's failure means (a database or state store that does not
#: answer), or None when it means none: a bug, raised as it is
Translate = Callable[[Exception], BrokerError | None]


@dataclass(frozen=True, slots=True)
class Upstream:
    """Send the browser to the identity provider: the connector's own answer (its ``start``)."""

    answer: Any


@dataclass(frozen=True, slots=True)
class UpstreamChoice:
    """Let the person choose how to log in to ``service``: the connectors that serve it, by
    name (none: the page says so)."""

    flow: Flow
    service: Service
    connectors: Mapping[str, Connector]


@dataclass(frozen=True, slots=True)
class Resume:
    """The upstream answer is recorded: continue at the broker's next step for ``flow`` (the
    level check, the choice on whose behalf), in the browser that began it."""

    flow: Flow


@dataclass(frozen=True, slots=True)
class Chooser:
    """Ask "on whose behalf do you want to log in?": the ``options`` offered in ``flow``."""

    flow: Flow
    service: Service
    options: list[Option]


def _untranslated(failure: Exception) -> BrokerError | None:
    return None


class Login:
    """The steps, on the running broker's context and components (the mappings are read at
    each step, so they may be filled after this is built)."""

    def __init__(self, context: BrokerContext, *, connectors: Mapping[str, Connector],
                 frontends: Mapping[str, Frontend], plugins: Mapping[str, MandateSource],
                 translate: Translate = _untranslated) -> None:
        self.context = context
        self.connectors, self.frontends, self.plugins = connectors, frontends, plugins
        self._translate = translate

    # -- called by frontends and connectors --------------------------------------------------

    def begin(self, *, browser_binding: str, frontend: str, requester: str, requester_name: str,
              service: Service, min_loa: str, return_to: str, request_data: dict[str, Any],
              upstream_hint: str | None = None, force_authn: bool = False,
              max_age: int | None = None) -> Upstream | UpstreamChoice:
        """Start a flow for a validated request and send the browser on to authenticate: to
        the connector the request named or the only one that serves the service, else to the
        choice between them.

        ``force_authn`` (SAML ForceAuthn, OIDC prompt=login) and ``max_age`` (OIDC; implies
        ``force_authn``) make the connector ask upstream for a fresh authentication and refuse
        an answer whose AuthnInstant is older than the flow.
        """
        flow = self.context.flows.start(
            browser_binding=browser_binding, frontend=frontend, requester=requester,
            requester_name=requester_name, service=service.uuid,
            min_loa=loa.highest([service.min_loa, min_loa]) or service.min_loa,
            return_to=return_to, request=request_data, upstream_hint=upstream_hint,
            force_authn=force_authn, max_age=max_age, stored=False)
        log.info("flow %s started by %s for service %s", short_id(flow.id), requester, service.uuid)
        with self.claimed(flow):
            eligible = self._eligible(service)
            if not eligible:
                raise NoLoginMethodError(f"no connector serves {service.via}")
            chosen = [name for name in eligible if name == upstream_hint] or (
                list(eligible) if len(eligible) == 1 else [])
            after = (Upstream(eligible[chosen[0]].start(flow)) if chosen
                     else UpstreamChoice(flow, service, eligible))
            # a connector's upstream_started has stored the flow; else (the upstream choice
            # page, or a connector that recorded no request) it is stored here: one write
            # either way
            self.context.flows.keep(flow)
        return after

    @contextmanager
    def claimed(self, flow: Flow) -> Iterator[None]:
        """Inside the block the request belongs to ``flow``: a BrokerError raised there carries
        it (unless a step placed it already), and so does a failure of the database or the
        state store, raised as the BrokerError it means. A connector claims the flow once the
        answer is shown to be genuine: from there on errors go to the relying party."""
        try:
            yield
        except BrokerError as error:
            error.in_flow(flow)
            raise
        except Exception as failure:
            translated = self._translate(failure)
            if translated is None:
                raise
            raise translated.in_flow(flow) from None

    def authenticated(self, flow: Flow, identity: Identity, *,
                      mark: tuple[str, int] | None = None) -> Resume:
        """A connector verified the upstream answer: record it (see :meth:`Flows.authenticated`;
        ``mark`` is the assertion's replay mark), continue in this browser. An answer whose
        request was used already, or that lost a race with the same answer, is refused on a
        page of its own: the flow belongs to the answer that won."""
        with self.claimed(flow):
            try:
                self.context.flows.authenticated(flow, identity, mark=mark)
            except UpstreamAnswerUsedError as error:
                error.in_flow(None)
                raise
        log.info("flow %s authenticated via %s at %s", short_id(flow.id), identity.connector,
                 identity.loa)
        return Resume(flow)

    # -- the broker's own steps --------------------------------------------------------------

    def upstream_choice(self, flow_id: str, browser_binding: str | None) -> UpstreamChoice:
        """The flow (begun, or back from an identity provider) and the connectors it may go to."""
        flow = self.context.flows.load(flow_id, browser_binding, STARTED, UPSTREAM)
        with self.claimed(flow):
            service = self.context.service(flow.service)
            return UpstreamChoice(flow, service, self._eligible(service))

    def go_upstream(self, choice: UpstreamChoice, name: str) -> Upstream:
        """Send the browser to the connector ``name``, one of ``choice``'s."""
        with self.claimed(choice.flow):
            return Upstream(choice.connectors[name].start(choice.flow))

    def resume(self, flow_id: str, browser_binding: str | None) -> Continuation | Chooser:
        """After authentication: check the level, then ask on whose behalf (when there is a
        choice), else answer the relying party.

        The choice is offered here, not behind another redirect: one round trip fewer per
        login. Its answer goes to :meth:`choose`; :meth:`chooser` offers it again (a reload, a
        way back)."""
        flow = self.context.flows.load(flow_id, browser_binding, AUTHENTICATED)
        with self.claimed(flow):
            identity = flow.get_identity()
            if not loa.meets(identity.loa, flow.min_loa):
                raise InsufficientLoaError(f"reached {identity.loa}, needs {flow.min_loa}")
            service = self.context.service(flow.service)
            options = self._options(identity, service)
            if not options:
                if not service.allows_self:
                    raise RepresentationError("nobody to represent for a service that needs it")
                return self.finish(flow, identity)
            if not service.allows_self and len(options) == 1:
                return self.finish(flow, identity.acting_for(*options[0].links))
            self.context.flows.offer(flow, options)
            return Chooser(flow, service, options)

    def chooser(self, flow_id: str, browser_binding: str | None) -> Chooser:
        """"On whose behalf do you want to log in?" again: the options offered before."""
        flow = self.context.flows.load(flow_id, browser_binding, AUTHENTICATED)
        with self.claimed(flow):
            _, service = self._offered(flow)
            return Chooser(flow, service, flow.options)

    def choose(self, flow_id: str, browser_binding: str | None, choice: str) -> Continuation:
        """The person's answer to "on whose behalf?". It must be one of the offered options,
        and still valid when chosen (a mandate revoked meanwhile is gone)."""
        flow = self.context.flows.load(flow_id, browser_binding, AUTHENTICATED)
        with self.claimed(flow):
            identity, service = self._offered(flow)
            offered = {option.key for option in flow.options}
            if choice == "self" and service.allows_self:
                return self.finish(flow, identity)
            current = {option.key: option for option in self._options(identity, service)}
            if choice not in offered or choice not in current:
                raise RepresentationError("choice is not among the valid options")
            return self.finish(flow, identity.acting_for(*current[choice].links))

    def finish(self, flow: Flow, identity: Identity) -> Continuation:
        """Consume the flow and carry ``identity`` to the relying party.

        The login is consumed, its audit entry written and the frontend's answer made in one
        transaction (with the SQL state store the OIDC code too); a frontend that fails, or a
        process that dies before the commit, leaves the flow as it was, to be completed again
        (or recorded as abandoned when it expires). The flow itself is forgotten after.
        """
        with self.claimed(flow):
            session = self.context.session()
            with one_transaction(session):
                self.context.flows.complete(flow)
                audit.record(session, actor=_party(identity.acting), action="login.completed",
                             subject=flow.requester, detail=_login_detail(flow, identity))
                continuation: Continuation = self.frontends[flow.frontend].respond(identity, flow)
            self.context.flows.forget(flow)
        log.info("flow %s completed for %s", short_id(flow.id), flow.requester)
        return continuation

    # -- a login that failed -----------------------------------------------------------------

    def closed_with_failure(self, flow: Flow, error: BrokerError) -> bool:
        """Close the failed login and write its login.failed entry, in one transaction; False
        when a concurrent step had closed it already."""
        with one_transaction(self.context.session()):
            if not self.context.flows.close(flow):
                return False
            self._record_failure(flow, error)
        return True

    def _record_failure(self, flow: Flow, error: BrokerError) -> None:
        """Audit a login that ends in an error answered to the relying party."""
        acting = flow.identity.acting if flow.identity else None
        audit.record(self.context.session(),
                     actor=_party(acting) if acting else "anonymous", action="login.failed",
                     subject=flow.requester,
                     detail={"reason": type(error).__name__, "error": error.oidc_error,
                             "relying_party": flow.requester, "frontend": flow.frontend,
                             "service": flow.service, "connector": flow.connector,
                             "state": flow.state, "flow": flow.id})

    # -- helpers -----------------------------------------------------------------------------

    def _offered(self, flow: Flow) -> tuple[Identity, Service]:
        if not flow.options:
            raise FlowError("no choice was offered in this flow")
        return flow.get_identity(), self.context.service(flow.service)

    def _options(self, identity: Identity, service: Service) -> list[Option]:
        """The options now. The look-up only reads, and nothing is written before it in this
        request; its transaction ends with a COMMIT, not with the ROLLBACK at the request's
        end: psycopg forgets its prepared statements at every rollback, so PostgreSQL would
        parse and plan the chooser's statement again at every login."""
        options = gather(self.plugins.values(), identity, service, self.context.clock())
        session = self.context.session()
        if session.in_transaction():
            session.commit()
        return options

    def _eligible(self, service: Service) -> dict[str, Connector]:
        """The connectors that serve ``service``'s kind of login, by name."""
        return {name: connector for name, connector in self.connectors.items()
                if connector.via == service.via}


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


def short_id(flow_id: str) -> str:
    """Enough of a flow id to follow it in the log, too little to use it."""
    return flow_id[:8]


def _party(party: Party) -> str:
    return audit.party(party.id_type, party.id)
