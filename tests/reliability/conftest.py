"""Brokers for the reliability tests: two ``broker serve`` processes on one PostgreSQL and
Redis (the pass with both), or one threaded broker on a loopback port (every pass).

:func:`target` gives a test whichever this pass has, so that the same test sends its
concurrent requests to two processes where it can, and to two threads of one otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from broker.frontends.oidc.clients import register_client
from tests import services
from tests.flows.conftest import base_url  # noqa: F401  (a free loopback port)
from tests.flows.conftest import broker_db  # noqa: F401
from tests.flows.conftest import live_app  # noqa: F401
from tests.flows.rp import OIDC_REDIRECT
from tests.served import TwoBrokers
from tests.served import two_brokers

TWO_PROCESSES = bool(services.postgresql_url() and services.redis_url())
needs_two_processes = pytest.mark.skipif(
    not TWO_PROCESSES,
    reason="two broker processes share PostgreSQL and Redis in the pass with DATABASE_URL and "
           "REDIS_URL set; ./run tests makes it when both services answer")


@dataclass
class Target:
    """A broker under test: its base URL, the doors concurrent requests go through (two
    processes, or the one process twice), and a database session on its database."""

    base_url: str
    doors: tuple[str, str]
    session: Any
    served: TwoBrokers | None = None


def _two_process_config(config: dict[str, Any]) -> dict[str, Any]:
    return {**config, "broker": {**config["broker"], "redis_prefix": services.redis_prefix()}}


@pytest.fixture
def brokers(tmp_path: Path, instance_path: Path, service_environ: dict[str, str],
            config: dict[str, Any]) -> Iterator[TwoBrokers]:
    """Two processes serving the test's ``config`` (the demo's unless a module overrides it)."""
    with two_brokers(tmp_path, instance_path, service_environ,
                     _two_process_config(config)) as served:
        yield served


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if TWO_PROCESSES:
        served: TwoBrokers = request.getfixturevalue("brokers")
        session = request.getfixturevalue("database")
        yield Target(served.base_url, (served.first.url, served.second.url), session, served)
        session.close()
    else:
        request.getfixturevalue("live_app")
        url = request.getfixturevalue("base_url")
        yield Target(url, (url, url), request.getfixturevalue("broker_db"))


def client_secret(session: Any, client_id: str) -> str:
    """Register an OIDC client that may receive the BSN; its secret."""
    secret = register_client(session, client_id=client_id, redirect_uris=[OIDC_REDIRECT],
                             secret=None, claims_profile="nlgov", may_receive_bsn=True)
    session.commit()
    assert secret
    return secret
