"""The portal as a frontend: a completed login becomes a portal session."""

from __future__ import annotations

import secrets

from flask import Blueprint

from broker.context import BrokerContext
from broker.context import Continuation
from broker.errors import BrokerError
from broker.flow import Flow
from broker.identity import Identity
from broker.services import PORTAL_SERVICE as PORTAL_SERVICE  # where the portal's views look

TICKET_SECONDS = 60


class PortalFrontend:
    """Answers a completed portal login with a one-time ticket that the portal at ``path``
    turns into a session (at ``<path>/sessie/<ticket>``, with :func:`take_ticket`)."""

    def __init__(self, context: BrokerContext, *, name: str = "portal",
                 path: str = "/machtigen") -> None:
        self.name = name
        self._context = context
        self._path = path
        self.blueprint = Blueprint(f"{name}_frontend", __name__)

    def respond(self, identity: Identity, flow: Flow) -> Continuation:
        ticket = secrets.token_urlsafe(32)
        self._context.store.put(_ticket_key(self.name, ticket), identity.to_dict(),
                                TICKET_SECONDS)
        return Continuation("GET", self._context.url(f"{self._path}/sessie/{ticket}"))

    def respond_error(self, error: BrokerError, flow: Flow) -> Continuation:
        return Continuation("GET", self._context.url(f"{self._path}/"))


def take_ticket(context: BrokerContext, frontend: str, ticket: str) -> Identity | None:
    """The identity a portal login ticket stands for (single use), or None."""
    data = context.store.take(_ticket_key(frontend, ticket))
    return Identity.from_dict(data) if data is not None else None


def _ticket_key(frontend: str, ticket: str) -> str:
    return f"{frontend}-ticket:{ticket}"
