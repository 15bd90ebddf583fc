"""The company-mandate plugins on the real SQLite register with the demo world seeded.

A plugin needs only a :class:`BrokerContext` (settings, the session, the clock), so the context
is built here without an app, on the ``database`` fixture's session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from broker.config import load_settings
from broker.context import BrokerContext
from broker.demo.seed import seed
from broker.flow import Flows
from broker.state import SqlStateStore
from tests.fakes import Clock
from tests.plugins.support import add_world_extras


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def context(database: Any, clock: Clock, config: dict[str, Any],
            instance_path: Path) -> BrokerContext:
    """The demo configuration (chain_depth 1, the default) over the seeded demo world plus
    :func:`add_world_extras`."""
    seed(database, now=clock.now)
    add_world_extras(database, clock.now)
    settings = load_settings(config, instance_path=instance_path, environ={})
    store = SqlStateStore(lambda: database, clock=clock)
    return BrokerContext(settings=settings, store=store,
                         flows=Flows(store, lifetime=settings.flow_lifetime_seconds, clock=clock),
                         session=lambda: database, clock=clock)
