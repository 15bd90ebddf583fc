"""Frontends: downstream, what relying parties call (OpenID Connect, SAML IdP).

A frontend validates the relying party's request, then calls
:func:`broker.web.continuations.begin` to start a flow. When the flow is done the core calls
:meth:`Frontend.respond` (or :meth:`Frontend.respond_error`) to answer.
"""

from __future__ import annotations

from typing import Protocol

from flask import Blueprint

from broker.context import Continuation
from broker.errors import BrokerError
from broker.flow import Flow
from broker.identity import Identity


class Frontend(Protocol):
    name: str
    blueprint: Blueprint

    def respond(self, identity: Identity, flow: Flow) -> Continuation:
        """The answer that carries ``identity`` to the relying party that began ``flow``."""
        ...

    def respond_error(self, error: BrokerError, flow: Flow) -> Continuation:
        """The protocol's error answer to the (already validated) return address of ``flow``."""
        ...
