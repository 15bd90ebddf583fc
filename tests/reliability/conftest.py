"""Brokers for the reliability tests: two ``broker serve`` processes on one PostgreSQL and
Redis (the pass with both), or one threaded broker on a loopback port (every pass)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.config import demo_config
from broker.frontends.oidc.clients import register_client
from tests import services
from tests.flows.conftest import base_url  # noqa: F401  (a free loopback port)
from tests.flows.conftest import broker_db  # noqa: F401
from tests.flows.conftest import live_app  # noqa: F401
from tests.flows.rp import OIDC_REDIRECT
from tests.served import TwoBrokers
from tests.served import free_port
from tests.served import two_brokers

needs_two_processes = pytest.mark.skipif(
    not (services.postgresql_url() and services.redis_url()),
    reason="two broker processes share PostgreSQL and Redis in the pass with DATABASE_URL and "
           "REDIS_URL set; ./run tests makes it when both services answer")


def two_process_config() -> dict[str, Any]:
    data = demo_config(f"http://127.0.0.1:{free_port()}")
    data["broker"]["redis_prefix"] = services.redis_prefix()
    return data


@pytest.fixture
def brokers(tmp_path: Path, instance_path: Path,
            service_environ: dict[str, str]) -> Iterator[TwoBrokers]:
    with two_brokers(tmp_path, instance_path, service_environ, two_process_config()) as served:
        yield served


def client_secret(session: Any, client_id: str) -> str:
    """Register an OIDC client that may receive the BSN; its secret."""
    secret = register_client(session, client_id=client_id, redirect_uris=[OIDC_REDIRECT],
                             secret=None, claims_profile="nlgov", may_receive_bsn=True)
    session.commit()
    assert secret
    return secret
