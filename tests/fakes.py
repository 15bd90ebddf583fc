"""Test doubles shared across test folders: a settable clock, a connector that goes nowhere."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import redirect

from broker.flow import Flow
from broker.identity import Identity
from broker.web.continuations import render_continuation
from broker.web.runtime import runtime


class Clock:
    """A clock the test moves by hand (``clock.now += timedelta(...)``)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class FakeConnector:
    """A connector that goes nowhere: it remembers the flows it was asked to start and sends the
    browser to its own ``/done``, which authenticates the last one as ``identity``. Given to
    ``create_app`` as type ``fake`` (``Components(connectors={"fake": FakeConnector})``)."""

    label = "Fake"
    is_mock = True

    def __init__(self, *, name: str, context: Any, via: str = "digid",
                 idp_entity_id: str | None = None) -> None:
        self.name = name
        self.context = context
        self.via = via
        self.idp_entity_id = idp_entity_id
        self.started: list[Flow] = []
        self.identity: Identity | None = None
        #: finish the flow straight away (flows.authenticated + the login's finish), skipping
        #: the core's level check and representation choice
        self.direct = False
        self.blueprint = Blueprint(f"fake_{name}", __name__)
        self.blueprint.add_url_rule("/done", "done", self.done)

    def start(self, flow: Flow) -> Any:
        self.started.append(flow)
        return redirect(f"/connect/{self.name}/done", 303)

    def done(self) -> Any:
        assert self.identity is not None and self.started
        if self.direct:
            runtime().context.flows.authenticated(self.started[-1], self.identity)
            return render_continuation(runtime().login.finish(self.started[-1], self.identity))
        return self.context.login.authenticated(self.started[-1], self.identity)


def fake_connector(name: str = "digid") -> FakeConnector:
    """The app's connector ``name``, which a test configured as type ``fake``."""
    connector = runtime().connectors[name]
    assert isinstance(connector, FakeConnector), connector
    return connector
