"""The running broker as the web layer sees it: context plus the built components."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from flask import current_app

from broker.context import BrokerContext
from broker.login import Login
from broker.services import Service
from broker.web import failures


@dataclass(eq=False)
class Runtime:
    context: BrokerContext
    connectors: dict[str, Any]
    frontends: dict[str, Any]
    plugins: dict[str, Any]
    #: the login's steps, on these very mappings (filled as the components are built)
    login: Login = field(init=False)

    def __post_init__(self) -> None:
        self.login = Login(self.context, connectors=self.connectors, frontends=self.frontends,
                           plugins=self.plugins, translate=failures.as_broker_error)

    @property
    def internal_services(self) -> dict[str, Service]:
        """Services of the broker's own pages (the portal), not offered to relying parties."""
        return self.context.internal_services

    def service(self, uuid: str) -> Service:
        """A catalogue service, or one of the broker's internal ones."""
        return self.context.service(uuid)


def runtime() -> Runtime:
    value = current_app.extensions["broker"]
    assert isinstance(value, Runtime)
    return value
