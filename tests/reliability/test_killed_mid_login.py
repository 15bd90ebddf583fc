"""A broker process killed in the middle of a login: the login is not used up, the audit chain
stays intact, and the login ends in the audit trail, completed (when the person tries again,
here at the other process) or abandoned (when the flow expires unfinished).

The worker is killed at a known point without any hook in the broker: the test holds the
lock of the audit trail's head row, so the worker's last step of the login waits inside its
transaction (PostgreSQL shows it waiting), and then SIGKILLs it there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from broker.audit import GENESIS
from broker.db import sqlalchemy_url
from tests import services
from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import oidc_login
from tests.reliability.conftest import client_secret
from tests.reliability.conftest import needs_two_processes
from tests.reliability.forms import hidden_fields
from tests.served import BROKER
from tests.served import HANG
from tests.served import TwoBrokers

JAN, FATIMA = "999993653", "999990676"

pytestmark = needs_two_processes


@contextmanager
def audit_head_held(url: str) -> Iterator[None]:
    """Hold the audit head row's lock (as a long transaction elsewhere would). An empty trail
    has no head row yet: it is made as the first appender would make it."""
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :genesis) "
                                "ON CONFLICT DO NOTHING"), {"genesis": GENESIS})
        connection.commit()
        connection.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"))
        try:
            yield
        finally:
            connection.rollback()
    engine.dispose()


def _await_a_waiting_writer(url: str) -> None:
    """Until some session of this database waits for a lock (the worker, at the head row)."""
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    deadline = time.monotonic() + HANG
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                waiting = connection.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")).scalar_one()
            if waiting:
                return
            time.sleep(0.05)
        pytest.fail("the worker never waited for the audit head")
    finally:
        engine.dispose()


def _choose_and_get_killed(brokers: TwoBrokers, browser: Browser, url: str) -> str:
    """Choose "for Jan" at the first process, kill its worker while it completes the login;
    the flow id."""
    flow_id = urlsplit(browser.last.url).path.split("/")[2]  # type: ignore[union-attr]
    fields = {**hidden_fields(browser, "form.choices"), "choice": f"bsn:{JAN}"}
    cookies = browser.session.cookies.get_dict()
    answers: list[Any] = []

    def choose() -> None:
        try:
            answers.append(requests.post(f"{brokers.first.url}/flow/{flow_id}/choose",
                                         data=fields, cookies=cookies, timeout=HANG,
                                         allow_redirects=False))
        except requests.ConnectionError as lost:
            answers.append(lost)

    (worker,) = brokers.first.children()
    with audit_head_held(url):
        chooser = threading.Thread(target=choose)
        chooser.start()
        _await_a_waiting_writer(url)
        os.kill(worker, signal.SIGKILL)
        chooser.join(HANG)
    assert answers and isinstance(answers[0], requests.ConnectionError), answers
    return flow_id


def _broker(brokers: TwoBrokers, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BROKER, *args, "--config", str(brokers.config), "--instance",
                           str(brokers.instance)], env=brokers.environ, capture_output=True, text=True,
                          timeout=HANG, check=False)


def _audit(url: str, flow_id: str) -> list[str]:
    rows = services.execute_sql(url, "SELECT action, detail FROM audit_entry ORDER BY seq")
    return [action for action, detail in rows
            if (detail if isinstance(detail, dict) else {}).get("flow") == flow_id]


@pytest.fixture
def rp(brokers: TwoBrokers, database: Any) -> OidcRelyingParty:
    secret = client_secret(database, "killed-rp")
    database.close()
    return OidcRelyingParty(brokers.base_url, "killed-rp", secret, door=brokers.second.url)


def _to_the_chooser(brokers: TwoBrokers, rp: OidcRelyingParty) -> Browser:
    browser = Browser(brokers.base_url, doors=(brokers.second.url,))
    outcome = oidc_login(browser, rp, INKOMSTEN, "fatima")  # all at the first process
    assert not isinstance(outcome, Arrival) and "Namens wie" in browser.text()
    return browser


def test_a_login_whose_worker_was_killed_during_the_choice_completes_at_the_other_process(
        brokers: TwoBrokers, rp: OidcRelyingParty, database_url: str) -> None:
    browser = _to_the_chooser(brokers, rp)
    flow_id = _choose_and_get_killed(brokers, browser, database_url)
    assert _audit(database_url, flow_id) == []  # nothing half-written
    browser.route = brokers.through(brokers.second)  # the person tries again, elsewhere
    arrival = browser.submit("form.choices", button=("choice", f"bsn:{JAN}"))
    claims = rp.finish(arrival).claims
    assert claims["sub"] == FATIMA and claims["represents"]["sub"] == JAN
    assert _audit(database_url, flow_id) == ["login.completed"]
    verified = _broker(brokers, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_login_whose_worker_was_killed_and_never_retried_ends_as_abandoned(
        brokers: TwoBrokers, rp: OidcRelyingParty, database_url: str) -> None:
    browser = _to_the_chooser(brokers, rp)
    flow_id = _choose_and_get_killed(brokers, browser, database_url)
    # the flow's lifetime passes (the journal row's end, moved as a clock would move it)
    services.execute_sql(database_url, "UPDATE login_in_progress SET expires_at = "
                                       "expires_at - interval '1 hour'")
    swept = _broker(brokers, "housekeeping")
    assert swept.returncode == 0 and "abandoned logins recorded: 1" in swept.stdout, swept
    assert _audit(database_url, flow_id) == ["login.abandoned"]
    assert _broker(brokers, "housekeeping").stdout.startswith("abandoned logins recorded: 0")
    verified = _broker(brokers, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
