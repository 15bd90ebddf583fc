"""The login journal: a login is opened when the person authenticated, closed exactly once
(by the step that records how it ended), and recorded as abandoned when its flow expired."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker

from broker import audit
from broker.audit import AuditEntry
from broker.db import sqlalchemy_url
from broker.flow import Flow
from broker.identity import Identity
from broker.identity import Party
from broker.journal import LoginInProgress
from broker.journal import LoginJournal
from broker.web.database import db
from tests.fakes import Clock

IDENTITY = Identity(acting=Party(id="999990676", id_type="bsn"), loa="substantial",
                    connector="digid", authn_instant=datetime(2026, 11, 23, tzinfo=UTC))


def _flow(number: int = 1) -> Flow:
    return Flow(id=f"flow-{number:02d}-" + "x" * 30, browser="b", frontend="oidc",
                requester="rp", requester_name="RP", service="92a383fd-f732-5aaf-af23-"
                "d9acf46c4c3a", min_loa="substantial", return_to="https://rp/cb",
                connector="digid")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal(database: Any, clock: Clock) -> LoginJournal:
    return LoginJournal(lambda: database, clock)


def _actions(database: Any) -> list[tuple[str, str, str]]:
    database.expire_all()
    return [(entry.action, entry.actor, entry.detail["flow"]) for entry in
            database.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()]


def test_a_login_is_closed_once(journal: LoginJournal, database: Any, clock: Clock) -> None:
    journal.opened(_flow(), IDENTITY, clock.now + timedelta(minutes=15))
    journal.opened(_flow(), IDENTITY, clock.now + timedelta(minutes=15))  # the same, again
    assert journal.closed(_flow()) is True
    database.commit()
    assert journal.closed(_flow()) is False


def test_a_login_not_closed_by_its_end_becomes_abandoned_once(journal: LoginJournal,
                                                             database: Any,
                                                             clock: Clock) -> None:
    journal.opened(_flow(1), IDENTITY, clock.now + timedelta(minutes=15))
    journal.opened(_flow(2), IDENTITY, clock.now + timedelta(minutes=20))
    clock.now += timedelta(minutes=16)
    assert journal.abandon_expired() == 1
    assert _actions(database) == [("login.abandoned", "bsn:999990676", _flow(1).id)]
    assert journal.abandon_expired() == 0
    assert journal.closed(_flow(1)) is False, "an abandoned login can no longer complete"
    assert journal.closed(_flow(2)) is True


def test_many_abandoned_logins_are_recorded_in_batches(journal: LoginJournal, database: Any,
                                                       clock: Clock,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("broker.journal.ABANDON_BATCH", 3)
    for number in range(7):
        journal.opened(_flow(number), IDENTITY, clock.now + timedelta(minutes=15))
    clock.now += timedelta(hours=1)
    assert journal.abandon_expired() == 7
    assert len(_actions(database)) == 7
    assert audit.verify(database).ok


def test_sweepers_at_the_same_moment_record_each_abandoned_login_once(
        database_url: str, clock: Clock) -> None:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(database_url)
    db.init_app(app)
    with app.app_context():
        sessions = scoped_session(sessionmaker(bind=db.engine))
        journal = LoginJournal(sessions, clock)
        for number in range(40):
            journal.opened(_flow(number), IDENTITY, clock.now + timedelta(minutes=15))
        clock.now += timedelta(hours=1)

        def sweep() -> int:
            try:
                return journal.abandon_expired()
            finally:
                sessions.remove()

        with ThreadPoolExecutor(4) as pool:
            recorded = sum(pool.map(lambda _: sweep(), range(4)))
        assert recorded == 40
        session = sessions()
        assert len(_actions(session)) == 40
        assert session.query(LoginInProgress).count() == 0
        assert audit.verify(session).ok
        sessions.remove()
        db.engine.dispose()
