"""The chooser's look-up ends its read with a COMMIT: a ROLLBACK at the end of the request would
make psycopg forget its prepared statements, and PostgreSQL plan the look-up at every login.

With the SQL state store the chooser's requests commit their flow anyway; with the Redis store
(the suite's second pass) nothing else would end the look-up's transaction."""

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask import g
from flask import request
from sqlalchemy import event

from broker.web.database import db
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import oidc_login
from tests.flows.test_oidc_login import JAN
from tests.flows.test_oidc_login import _choices
from tests.flows.test_oidc_login import rp  # noqa: F401  (fixture)


@pytest.fixture
def rollbacks(live_app: Flask) -> Iterator[list[str]]:
    """The paths of the broker's requests whose database work ended with a rollback."""
    seen: list[str] = []

    @live_app.before_request
    def remember_path() -> None:
        g.probe_path = request.path

    def record(_connection: Any) -> None:
        path = g.get("probe_path") if g else None
        if path:
            seen.append(path)

    with live_app.app_context():
        engine = db.engine
    event.listen(engine, "rollback", record)
    try:
        yield seen
    finally:
        event.remove(engine, "rollback", record)


def test_the_chooser_page_and_the_choice_end_their_lookup_without_a_rollback(
        browser: Browser, rp: OidcRelyingParty, rollbacks: list[str]) -> None:  # noqa: F811
    oidc_login(browser, rp, INKOMSTEN, "fatima")
    assert _choices(browser) == ["self", f"bsn:{JAN}"]
    browser.submit("form.choices", button=("choice", f"bsn:{JAN}"))
    chooser_steps = [path for path in rollbacks if path.endswith(("/continue", "/choose"))]
    assert chooser_steps == []
