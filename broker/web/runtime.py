"""The running broker as the web layer sees it: context plus the built components."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from flask import current_app

from broker.components import Connector
from broker.components import Frontend
from broker.context import BrokerContext
from broker.pipeline import MandateSource
from broker.services import Service


@dataclass(eq=False)
class Runtime:
    context: BrokerContext
    connectors: dict[str, Connector]
    frontends: dict[str, Frontend]
    plugins: dict[str, MandateSource]
    #: services of the broker's own pages (the portal), not offered to relying parties
    internal_services: dict[str, Service] = field(default_factory=dict)

    def service(self, uuid: str) -> Service:
        """A catalogue service, or one of the broker's internal ones."""
        return self.internal_services.get(uuid) or self.context.catalogue().get(uuid)


def runtime() -> Runtime:
    value = current_app.extensions["broker"]
    assert isinstance(value, Runtime)
    return value
