"""The company-mandate plugins on the real SQLite register with the demo world seeded.

A plugin needs only a :class:`BrokerContext` (settings, the session, the clock), so the context
is built here without an app, on a session of a plain SQLAlchemy engine: no Flask app, as in the
core itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from broker.config import load_settings
from broker.context import BrokerContext
from broker.db import sqlalchemy_url
from broker.demo.seed import seed
from broker.flow import Flows
from broker.state import SqlStateStore
from tests.fakes import Clock
from tests.plugins.support import add_world_extras


@pytest.fixture
def database(database_url: str) -> Iterator[Session]:
    """A session on the test's fresh database with the broker's tables (made by the migrations,
    as for the shared fixture of this name), on a plain SQLAlchemy engine instead of an app."""
    engine = create_engine(sqlalchemy_url(database_url))
    with Session(engine) as session:
        yield session
    engine.dispose()


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
