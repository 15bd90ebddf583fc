"""The portal as a frontend: a completed login becomes a portal session."""

from __future__ import annotations

import secrets

from flask import Blueprint

from broker.context import BrokerContext
from broker.context import Continuation
from broker.errors import BrokerError
from broker.flow import Flow
from broker.identity import Identity
from broker.services import Service

#: The portal asks for this pseudo-service; it is not in the catalogue relying parties see.
PORTAL_SERVICE = Service(uuid="5d6e1d3c-8f43-5f0a-9a51-2c3f5a0b7e11", name="Machtigingenportaal",
                         via="digid", min_loa="low", accepts=(), allows_self=True)
TICKET_SECONDS = 60


class PortalFrontend:
    """Answers a completed portal login with a one-time ticket the portal turns into a session."""

    name = "portal"

    def __init__(self, context: BrokerContext) -> None:
        self._context = context
        self.blueprint = Blueprint("portal_frontend", __name__)

    def respond(self, identity: Identity, flow: Flow) -> Continuation:
        ticket = secrets.token_urlsafe(32)
        self._context.store.put(f"portal-ticket:{ticket}", identity.to_dict(), TICKET_SECONDS)
        return Continuation("GET", self._context.url(f"/machtigen/sessie/{ticket}"))

    def respond_error(self, error: BrokerError, flow: Flow) -> Continuation:
        return Continuation("GET", self._context.url("/machtigen/"))
