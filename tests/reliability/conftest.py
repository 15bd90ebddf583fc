"""The reliability tests run the broker as the flow tests do, on a real loopback HTTP server
where a browser logs in through the mock identity providers (the fuzz), or send requests to
an app whose every request has an app context of its own, as under gunicorn (``broker``):
a request that breaks its database transaction must not leave it broken for the next one."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from broker.app import create_app
from broker.config import Settings
from tests.conftest import release
from tests.flows.conftest import base_url  # noqa: F401  (fixtures shared with the flow tests)
from tests.flows.conftest import browser  # noqa: F401
from tests.flows.conftest import live_app  # noqa: F401

JAN = "999993653"
BAKERY = "10000001"


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
