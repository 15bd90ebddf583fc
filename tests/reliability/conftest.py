"""Brokers for the reliability tests.

- :func:`target`: two ``broker serve`` processes on one PostgreSQL and Redis (the pass with
  both), or one threaded broker on a loopback port (every pass), so that the same test sends
  its concurrent requests to two processes where it can, and to two threads of one otherwise;
- :func:`live_app` and :func:`browser`: the broker on a real loopback HTTP server, as the flow
  tests run it (the fuzz logs in through the mock identity providers there);
- :func:`broker`: an app whose every request has an app context of its own, as under
  gunicorn: a request that breaks its database transaction must not leave it broken for the
  next one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from broker.app import create_app
from broker.config import Settings
from broker.frontends.oidc.clients import register_client
from tests import services
from tests.conftest import release
from tests.flows.conftest import base_url  # noqa: F401  (fixtures shared with the flow tests)
from tests.flows.conftest import broker_db  # noqa: F401
from tests.flows.conftest import browser  # noqa: F401
from tests.flows.conftest import live_app  # noqa: F401
from tests.flows.rp import OIDC_REDIRECT
from tests.served import TwoBrokers
from tests.served import two_brokers

JAN = "999993653"
BAKERY = "10000001"

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


@pytest.fixture
def broker(settings: Settings) -> Iterator[Flask]:
    """The demo broker, without an app context held open across requests."""
    app = create_app(settings)
    yield app
    release(app)


@pytest.fixture
def logged_in(broker: Flask) -> Any:
    """A test client logged in to the mandate portal as jan, to the organisation portal as an
    administrator of the bakery (``beheer``), and to the administrators' pages as
    ``beheerder``: their sessions put in the store as the logins would."""
    from broker.admin.views import SESSIONS as ADMIN_SESSIONS
    from broker.mock_idp.pseudonyms import employee_pseudonym
    from broker.portal import organisation
    from broker.portal import session

    client = broker.test_client()
    with broker.app_context():
        store = broker.extensions["broker"].context.store
        for kind, data in (
                (session.CITIZEN, {"bsn": JAN, "loa": "substantial"}),
                (organisation.ORG_SESSIONS, {"pseudonym": employee_pseudonym(BAKERY, "beheer"),
                                             "kvk": BAKERY, "loa": "substantial"}),
                (ADMIN_SESSIONS, {"username": "beheerder", "stage": "in"})):
            token = secrets.token_urlsafe(32)
            store.put(session.key(kind, token), data, session.IDLE_SECONDS)
            client.set_cookie(kind.cookie, token)
    return client


def csrf_of(client: Any) -> str:
    """The CSRF token of ``client``'s session, read from a form page."""
    import re

    page = client.get("/admin/inloggen").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)
