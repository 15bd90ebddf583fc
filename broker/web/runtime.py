"""The running broker as the web layer sees it: context plus the built components."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from dataclasses import field

from flask import current_app
from flask import redirect
from flask import url_for
from werkzeug.wrappers import Response

from broker.components import Connector
from broker.components import Frontend
from broker.context import BrokerContext
from broker.flow import Flow
from broker.identity import Identity
from broker.login import Login
from broker.pipeline import MandateSource
from broker.services import Service
from broker.web import failures


@dataclass(eq=False)
class Runtime:
    """Built once per app; builds the login's steps on its mappings and wires them into the
    context as what connectors call back with (:attr:`BrokerContext.login`)."""

    context: BrokerContext
    connectors: dict[str, Connector]
    frontends: dict[str, Frontend]
    plugins: dict[str, MandateSource]
    #: the login's steps, on these very mappings (filled as the components are built)
    login: Login = field(init=False)

    def __post_init__(self) -> None:
        self.login = Login(self.context, connectors=self.connectors, frontends=self.frontends,
                           plugins=self.plugins, translate=failures.as_broker_error)
        self.context.login = ConnectorCallbacks(self.login)

    @property
    def internal_services(self) -> dict[str, Service]:
        """Services of the broker's own pages (the portal), not offered to relying parties."""
        return self.context.internal_services

    def service(self, uuid: str) -> Service:
        """A catalogue service, or one of the broker's internal ones."""
        return self.context.service(uuid)


class ConnectorCallbacks:
    """The login's steps as a connector's views call them (:class:`LoginCallbacks`): the
    recorded answer becomes the redirect to the broker's next step."""

    def __init__(self, login: Login) -> None:
        self._login = login

    def claimed(self, flow: Flow) -> AbstractContextManager[None]:
        return self._login.claimed(flow)

    def authenticated(self, flow: Flow, identity: Identity, *,
                      mark: tuple[str, int] | None = None) -> Response:
        resume = self._login.authenticated(flow, identity, mark=mark)
        return redirect(url_for("flow.resume", flow_id=resume.flow.id), 303)


def runtime() -> Runtime:
    value = current_app.extensions["broker"]
    assert isinstance(value, Runtime)
    return value
