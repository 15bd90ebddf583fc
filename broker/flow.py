"""One login in progress, kept server-side, and the transitions it may make.

::

    started ──► upstream ──► authenticated ──► completed
                   (connector)     │  (chooser, when there is a choice)
                                   └──► chosen ──► completed

A flow lives in a :class:`~broker.state.StateStore` under an unguessable id, is bound to the
browser that began it, expires, and is consumed by :meth:`Flows.complete`: replaying any step
afterwards raises :class:`~broker.errors.FlowError`. Connectors and frontends call these
transitions; they never call each other.

Each step is consumed only in the step that completes it: :meth:`Flows.authenticated` takes
the upstream request, marks the assertion and stores the authenticated flow in one atomic
store operation, after the :class:`~broker.journal.LoginJournal` has recorded the login; and
:meth:`Flows.complete` consumes the login in the caller's transaction (its journal row goes
with the audit entry), so a process that dies in between leaves the flow as it was.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any

from broker.clock import utcnow
from broker.errors import FlowError
from broker.errors import UpstreamAnswerUsedError
from broker.errors import UpstreamResponseError
from broker.identity import Identity
from broker.pipeline import Option
from broker.state import StateStore

if TYPE_CHECKING:
    from broker.journal import LoginJournal

#: where flows and the upstream requests waiting for an answer are kept in the state store
FLOW_KEYS = "flow:"
UPSTREAM_REQUEST_KEYS = "upstream-request:"

STARTED = "started"
UPSTREAM = "upstream"
AUTHENTICATED = "authenticated"
CHOSEN = "chosen"


@dataclass(kw_only=True)
class Flow:
    """The server-side record of one login. Only ``id`` ever reaches the browser."""

    id: str
    browser: str  #: digest of the browser-binding cookie that began the flow
    frontend: str  #: frontend instance name that answers the relying party
    requester: str  #: OIDC client_id or SAML SP entity id
    requester_name: str  #: for pages: which service sent the person here
    service: str  #: ServiceUUID asked for
    min_loa: str  #: the level the login must reach (service's minimum or higher if asked)
    return_to: str  #: validated return address (redirect_uri or ACS URL)
    request: dict[str, Any] = field(default_factory=dict)  #: frontend's own data to answer
    upstream_hint: str | None = None  #: connector name the request asked for, if any
    #: the relying party demands a fresh upstream authentication (SAML ForceAuthn, OIDC
    #: prompt=login or max_age); the connector asks for it and checks the AuthnInstant
    force_authn: bool = False
    #: OIDC max_age: the upstream authentication may be at most this many seconds old
    max_age: int | None = None
    connector: str | None = None
    upstream_request_id: str | None = None
    identity: Identity | None = None  #: who authenticated (and, once chosen, for whom)
    options: list[Option] = field(default_factory=list)  #: what the chooser offered
    state: str = STARTED
    created_at: str = ""

    def get_identity(self) -> Identity:
        if self.identity is None:
            raise FlowError("flow has no identity yet")
        return self.identity

    def to_dict(self) -> dict[str, Any]:
        """What the store keeps: the fields, with the identity and the options as plain data."""
        data = dict(vars(self))
        data["identity"] = self.identity.to_dict() if self.identity is not None else None
        data["options"] = [option.to_dict() for option in self.options]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Flow:
        identity, options = data.get("identity"), data.get("options") or ()
        return cls(**{**data, "identity": Identity.from_dict(identity) if identity else None,
                      "options": [Option.from_dict(option) for option in options]})

    def started_at(self) -> datetime:
        """When the flow began (timezone-aware, from the flows' clock)."""
        if not self.created_at:
            raise FlowError("flow has no start time")
        return datetime.fromisoformat(self.created_at)


def browser_digest(binding: str) -> str:
    """What a flow stores of the browser-binding cookie (never the cookie itself)."""
    return hashlib.sha256(binding.encode()).hexdigest()


class Flows:
    """Creates, loads and moves flows; the only code that changes a flow's state."""

    def __init__(self, store: StateStore, *, lifetime: int,
                 clock: Callable[[], datetime] = utcnow,
                 journal: LoginJournal | None = None) -> None:
        """Without a ``journal`` (unit tests of the flow alone) a flow's single use rests on
        the store alone, and nothing records logins that were never completed."""
        self._store = store
        self._lifetime = lifetime
        self._clock = clock
        self._journal = journal

    def start(self, *, browser_binding: str, force_authn: bool = False,
              max_age: int | None = None, stored: bool = True, **fields: Any) -> Flow:
        """A new flow; ``max_age`` (any value) implies ``force_authn``.

        ``stored=False`` when the caller may hand the flow straight to a connector, whose
        :meth:`upstream_started` stores it (one write fewer per login); :meth:`keep` then
        stores it if nothing did.
        """
        if max_age is not None and max_age < 0:
            raise ValueError("max_age must not be negative")
        flow = Flow(id=secrets.token_urlsafe(32), browser=browser_digest(browser_binding),
                    created_at=self._clock().isoformat(),
                    force_authn=force_authn or max_age is not None, max_age=max_age,
                    **fields)
        if stored:
            self._save(flow)
        return flow

    def load(self, flow_id: str, browser_binding: str | None, *expected: str) -> Flow:
        """The flow ``flow_id`` if this browser began it and it is in one of ``expected``."""
        data = self._store.get(flow_key(flow_id)) if _plausible(flow_id) else None
        if data is None:
            raise FlowError("unknown or expired flow")
        flow = Flow.from_dict(data)
        if browser_binding is None or not hmac.compare_digest(
                flow.browser, browser_digest(browser_binding)):
            raise FlowError("flow does not belong to this browser")
        if expected and flow.state not in expected:
            raise FlowError(f"flow step out of order: state {flow.state}")
        return flow

    def keep(self, flow: Flow) -> None:
        """Store a flow started with ``stored=False`` that is still in its first state."""
        if flow.state == STARTED:
            self._save(flow)

    def upstream_started(self, flow: Flow, connector: str, request_id: str) -> None:
        """Record the upstream request; its id later finds the flow (single use)."""
        flow.connector, flow.upstream_request_id, flow.state = connector, request_id, UPSTREAM
        self._save(flow)
        self._store.put(_request_key(connector, request_id), {"flow": flow.id}, self._lifetime)

    def awaiting_upstream(self, connector: str, in_response_to: str | None) -> Flow:
        """The flow waiting for the answer to ``in_response_to``, without consuming anything.

        The answer is not verified yet, so nothing may change here: an unsigned or forged
        message that quotes a live request id must not end the person's login.
        """
        if not in_response_to:
            raise UpstreamResponseError("response without InResponseTo (unsolicited)")
        mark = self._store.get(_request_key(connector, in_response_to))
        if mark is None:
            raise UpstreamResponseError("InResponseTo unknown, expired or already used")
        data = self._store.get(flow_key(mark["flow"]))
        if data is None:
            raise FlowError("flow expired while at the identity provider")
        flow = Flow.from_dict(data)
        if flow.state != UPSTREAM or flow.connector != connector or (
                flow.upstream_request_id != in_response_to):
            raise UpstreamResponseError("response does not answer this flow's request")
        return flow

    def authenticated(self, flow: Flow, identity: Identity, *,
                      mark: tuple[str, int] | None = None) -> None:
        """The connector verified ``identity`` for the flow: record the login in the journal,
        then, in one store operation, use up the upstream request id, add ``mark`` (the
        assertion's replay mark: key, seconds) and store the flow as authenticated. A second
        verified answer to the same request (or one that loses a race with the first) raises
        :class:`UpstreamAnswerUsedError`, a replayed assertion UpstreamResponseError; either
        changes nothing."""
        flow.identity, flow.state = identity, AUTHENTICATED
        if self._journal is not None:
            self._journal.opened(flow, identity, self._clock() + timedelta(
                seconds=self._lifetime))
        if flow.connector is None or flow.upstream_request_id is None:
            self._save(flow)  # a flow authenticated without an upstream request (tests)
            return
        stopped = self._store.advance(
            take=_request_key(flow.connector, flow.upstream_request_id),
            put=(flow_key(flow.id), flow.to_dict(), self._lifetime), mark=mark)
        if stopped == "taken":
            raise UpstreamAnswerUsedError("InResponseTo already used")
        if stopped == "marked":
            raise UpstreamResponseError("assertion replayed")

    def offer(self, flow: Flow, options: list[Option]) -> None:
        flow.options = options
        self._save(flow)

    def chosen(self, flow: Flow, identity: Identity) -> None:
        flow.identity, flow.state = identity, CHOSEN
        self._save(flow)

    def complete(self, flow: Flow) -> None:
        r"""Consume the login, in the caller's transaction (which records it in the audit
        trail): exactly one caller completes it, any replay gets FlowError. The caller
        :meth:`forget`\ s the flow once that transaction is committed."""
        if self._journal is not None:
            if not self._journal.closed(flow):
                raise FlowError("flow already completed")
        elif self._store.take(flow_key(flow.id)) is None:
            raise FlowError("flow already completed")

    def close(self, flow: Flow) -> bool:
        """The login failed: close it in the caller's transaction (which records the failure);
        the caller then forgets the flow (:meth:`forget`). False when an authenticated login
        was closed already (by a concurrent step, which answered the relying party)."""
        if self._journal is not None and flow.state in (AUTHENTICATED, CHOSEN):
            return self._journal.closed(flow)
        return True

    def forget(self, flow: Flow) -> None:
        """Remove the flow from the store, and its upstream request while it still waits for
        its answer (:meth:`authenticated` used it up)."""
        self._store.delete(flow_key(flow.id))
        if flow.state == UPSTREAM and flow.connector is not None and (
                flow.upstream_request_id is not None):
            self._store.delete(_request_key(flow.connector, flow.upstream_request_id))

    def _save(self, flow: Flow) -> None:
        self._store.put(flow_key(flow.id), flow.to_dict(), self._lifetime)


def flow_key(flow_id: str) -> str:
    """The state-store key of flow ``flow_id``."""
    return FLOW_KEYS + flow_id


def _request_key(connector: str, request_id: str) -> str:
    return f"{UPSTREAM_REQUEST_KEYS}{connector}:{request_id}"


def _plausible(flow_id: str) -> bool:
    return 20 <= len(flow_id) <= 64 and flow_id.replace("-", "").replace("_", "").isalnum()
