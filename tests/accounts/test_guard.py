"""The login guard: a lock after the configured wrong attempts, lifted by the cool-down or by
an administrator; a right answer resets the count; a limit per address on wrong attempts."""

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

ADDRESS = "192.0.2.1"


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _guard(database: Any, clock: Clock, realm: str = "admin", **policy: int) -> LoginGuard:
    settings = {"max_failures": 5, "lockout_seconds": 900, "address_attempts": 100, **policy}
    return LoginGuard(SqlStateStore(lambda: database, clock), realm, AccountPolicy(**settings),
                      clock)


@pytest.fixture
def guard(database: Any, clock: Clock) -> LoginGuard:
    return _guard(database, clock)


def _fail(guard: LoginGuard, username: str, address: str = ADDRESS) -> int:
    return guard.failed(guard.check(username, address)).left


def test_fifth_failure_locks_and_the_cool_down_lifts_the_lock(guard: LoginGuard,
                                                               clock: Clock) -> None:
    assert [_fail(guard, "anna") for _ in range(5)] == [4, 3, 2, 1, 0]
    with pytest.raises(AccountLocked) as locked:
        guard.check("anna", ADDRESS)
    assert locked.value.until == clock.now + timedelta(seconds=900)
    clock.now += timedelta(seconds=899)
    with pytest.raises(AccountLocked):
        guard.check("anna", ADDRESS)
    clock.now += timedelta(seconds=1)
    assert _fail(guard, "anna") == 4, "after the cool-down the count starts again"


def test_failures_are_forgotten_after_the_lockout_period_without_a_lock(
        guard: LoginGuard, clock: Clock) -> None:
    for _ in range(4):
        _fail(guard, "anna")
    clock.now += timedelta(seconds=901)
    assert _fail(guard, "anna") == 4


def test_a_right_answer_resets_the_count(guard: LoginGuard) -> None:
    for _ in range(4):
        _fail(guard, "anna")
    guard.succeeded(guard.check("anna", ADDRESS))
    assert _fail(guard, "anna") == 4


def test_a_right_first_step_gives_back_its_attempt_without_resetting(guard: LoginGuard) -> None:
    """A right password before a wrong code: the password was no wrong attempt, the count of
    the wrong ones before it stands."""
    for _ in range(2):
        _fail(guard, "anna")
    guard.passed(guard.check("anna", ADDRESS))
    assert _fail(guard, "anna") == 2


def test_attempts_reserved_beyond_the_limit_find_the_account_locked(guard: LoginGuard) -> None:
    """Attempts made at the same moment: each reserves its number before any is checked, so
    the sixth is refused even while the first five are still being checked."""
    attempts = [guard.check("anna", ADDRESS) for _ in range(5)]
    with pytest.raises(AccountLocked):
        guard.check("anna", ADDRESS)
    assert [guard.failed(attempt).left for attempt in attempts] == [4, 3, 2, 1, 0]


def test_unlock_lifts_a_lock_at_once(guard: LoginGuard) -> None:
    for _ in range(5):
        _fail(guard, "anna")
    assert guard.unlock("anna") is True
    assert _fail(guard, "anna") == 4, "unlocking also forgets the count"
    assert guard.unlock("anna") is False


def test_locks_are_per_account_and_per_realm(database: Any, guard: LoginGuard,
                                             clock: Clock) -> None:
    for _ in range(5):
        _fail(guard, "anna")
    guard.check("bert", ADDRESS)
    _guard(database, clock, realm="digid").check("anna", ADDRESS)


def test_an_unknown_account_is_counted_and_locked_like_any_other(guard: LoginGuard) -> None:
    assert [_fail(guard, "nobody") for _ in range(5)] == [4, 3, 2, 1, 0]
    with pytest.raises(AccountLocked):
        guard.check("nobody", ADDRESS)


def test_address_limit_counts_wrong_attempts_over_all_accounts(database: Any,
                                                               clock: Clock) -> None:
    guard = _guard(database, clock, address_attempts=5, address_window_seconds=600)
    for number in range(5):
        _fail(guard, f"user{number}")
    with pytest.raises(TooManyAttempts) as held:
        guard.check("anna", ADDRESS)
    assert held.value.retry_after == 600
    guard.check("anna", "192.0.2.2")  # another address
    clock.now += timedelta(seconds=601)
    guard.check("anna", ADDRESS)


def test_address_limit_does_not_count_right_answers(database: Any, clock: Clock) -> None:
    guard = _guard(database, clock, address_attempts=5)
    for _ in range(20):
        guard.succeeded(guard.check("anna", ADDRESS))
    for _ in range(20):
        guard.passed(guard.check("bert", ADDRESS))
    _fail(guard, "carla")


def test_the_store_holds_no_username_and_no_address(database: Any, guard: LoginGuard) -> None:
    from broker.db import EphemeralState
    from broker.db import StateCounter

    for _ in range(5):
        _fail(guard, "anna")
    keys = [row.key for model in (EphemeralState, StateCounter)
            for row in database.query(model)]
    assert keys and not [key for key in keys if "anna" in key or ADDRESS in key]
