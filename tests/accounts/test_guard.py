"""The login guard: a lock after the configured wrong attempts, lifted by the cool-down or by
an administrator; a right answer resets the count; a limit per address."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from broker.accounts.guard import AccountLocked
from broker.accounts.guard import LoginGuard
from broker.accounts.guard import TooManyAttempts
from broker.accounts.policy import AccountPolicy
from broker.state import SqlStateStore
from tests.fakes import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guard(database: Any, clock: Clock) -> LoginGuard:
    policy = AccountPolicy(max_failures=5, lockout_seconds=900, address_attempts=100)
    return LoginGuard(lambda: database, SqlStateStore(lambda: database, clock), "admin", policy,
                      clock)


def test_fifth_failure_locks_and_the_cool_down_lifts_the_lock(guard: LoginGuard,
                                                               clock: Clock) -> None:
    assert [guard.failed("anna").left for _ in range(5)] == [4, 3, 2, 1, 0]
    with pytest.raises(AccountLocked) as locked:
        guard.check("anna", "192.0.2.1")
    assert locked.value.until == clock.now + timedelta(seconds=900)
    clock.now += timedelta(seconds=899)
    with pytest.raises(AccountLocked):
        guard.check("anna", "192.0.2.1")
    clock.now += timedelta(seconds=1)
    guard.check("anna", "192.0.2.1")
    assert guard.failed("anna").left == 4, "after the cool-down the count starts again"


def test_a_right_answer_resets_the_count(guard: LoginGuard) -> None:
    for _ in range(4):
        guard.failed("anna")
    guard.succeeded("anna")
    assert guard.failed("anna").left == 4


def test_unlock_lifts_a_lock_at_once(guard: LoginGuard) -> None:
    for _ in range(5):
        guard.failed("anna")
    assert guard.unlock("anna") is True
    guard.check("anna", "192.0.2.1")
    assert guard.unlock("anna") is False


def test_locks_are_per_account_and_per_realm(database: Any, guard: LoginGuard,
                                             clock: Clock) -> None:
    for _ in range(5):
        guard.failed("anna")
    guard.check("bert", "192.0.2.1")
    other_realm = LoginGuard(lambda: database, SqlStateStore(lambda: database, clock), "digid",
                             AccountPolicy(), clock)
    other_realm.check("anna", "192.0.2.1")


def test_address_limit_counts_every_attempt_over_all_accounts(database: Any,
                                                              clock: Clock) -> None:
    guard = LoginGuard(lambda: database, SqlStateStore(lambda: database, clock), "admin",
                       AccountPolicy(address_attempts=5, address_window_seconds=600), clock)
    for number in range(5):
        guard.check(f"user{number}", "192.0.2.1")
    with pytest.raises(TooManyAttempts) as held:
        guard.check("anna", "192.0.2.1")
    assert held.value.retry_after == 600
    guard.check("anna", "192.0.2.2")  # another address
    clock.now += timedelta(seconds=601)
    guard.check("anna", "192.0.2.1")
