"""Nothing a stranger sends may grow a table or a key space without bound: what a login form
or a login request leaves behind expires, and the broker removes it (housekeeping)."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func
from sqlalchemy import select

from broker import housekeeping
from broker import schema
from broker.clock import aware
from broker.clock import utcnow
from broker.db import EphemeralState
from broker.db import StateCounter
from broker.flow import FLOW_KEYS
from broker.flow import UPSTREAM_REQUEST_KEYS
from broker.web.database import db
from tests import services
from tests.flows.browser import Browser
from tests.reliability.forms import opened

SHORT_LIVED = {"ephemeral_state", "state_counter"}  #: rows with an expiry, swept


def _rows(app: Flask) -> dict[str, int]:
    """Rows per table, the short-lived state store's tables apart."""
    with app.app_context():
        return {table.name: int(db.session.execute(select(func.count()).select_from(table))
                                .scalar_one())
                for table in schema.metadata().sorted_tables if table.name not in SHORT_LIVED}


def _sweep(app: Flask) -> housekeeping.Swept:
    context = app.extensions["broker"].context
    with app.app_context():
        return housekeeping.sweep(context.session, context.store, context.clock)


def test_unknown_usernames_tried_at_login_forms_leave_no_lasting_row(live_app: Flask,
                                                                    base_url: str) -> None:
    before = _rows(live_app)
    for number in range(12):
        opened(Browser(base_url), "/admin/inloggen", "form").send(
            {"username": f"stranger-{number}", "password": "guess-guess-guess"})
    assert _rows(live_app) == before
    left = _short_lived(live_app)
    assert left and all(seconds > 0 for seconds in left), \
        "everything the attempts left behind expires"


def _short_lived(app: Flask) -> list[float]:
    """Seconds to live of every value and counter in the state store (Redis: of every key,
    which :func:`services.stored_state` checks has an expiry)."""
    if services.redis_url():
        return [entry.left.total_seconds() for entry in services.stored_state(app).values()]
    with app.app_context():
        now = utcnow()
        rows: list[EphemeralState | StateCounter] = [
            *db.session.execute(select(EphemeralState)).scalars(),
            *db.session.execute(select(StateCounter)).scalars()]
        return [(aware(row.expires_at) - now).total_seconds() for row in rows]


def test_expired_state_of_abandoned_login_requests_is_swept(live_app: Flask,
                                                            base_url: str) -> None:
    """Login requests nobody finishes (a stranger's, or a closed browser's) leave flows and
    upstream request marks; once they expire, housekeeping removes them from the SQL store."""
    browser = Browser(base_url)
    for _ in range(5):
        browser.open(base_url + "/machtigen/")
        browser.submit("form[action$='/machtigen/inloggen']")  # to mock DigiD, and no further
    assert services.stored_state(live_app, FLOW_KEYS)
    services.expire_state(live_app, FLOW_KEYS)
    services.expire_state(live_app, UPSTREAM_REQUEST_KEYS)
    swept = _sweep(live_app)
    if services.redis_url():
        assert swept.expired_state == 0  # Redis expired them itself
    else:
        assert swept.expired_state >= 10
    assert not services.stored_state(live_app, FLOW_KEYS)
    assert not services.stored_state(live_app, UPSTREAM_REQUEST_KEYS)
