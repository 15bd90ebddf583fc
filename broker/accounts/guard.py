"""Lockout per account and rate limits per address, for every login and code-entry form.

An account locks after ``max_failures`` wrong passwords or codes within ``lockout_seconds``,
for ``lockout_seconds`` (the cool-down) or until an administrator unlocks it; a right answer
resets the count. Independently, a client address may make ``address_attempts`` wrong attempts
per window over all accounts, which stops one machine from trying one password against many
accounts; right answers are not counted, so a person who logs in again and again is never
held. Wrong attempts on an unknown account count exactly as on an existing one, so probing
usernames costs the same as guessing passwords and tells nothing.

Every count is one atomic increment in the state store, taken *before* the answer is checked
(:meth:`LoginGuard.check` reserves the attempt; :meth:`~LoginGuard.succeeded` gives the
address's count back): of any number of attempts sent at the same moment, to any number of
processes, exactly ``max_failures`` are checked and the others find the account locked. The
counts expire by themselves, so nothing a stranger sends grows the store for long; the store
holds no username and no address, only digests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from broker.accounts.policy import AccountPolicy
from broker.state import StateStore


class AccountLocked(Exception):
    """The account is locked until :attr:`until` (UTC)."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


class TooManyAttempts(Exception):
    """The client address made too many attempts; try again after :attr:`retry_after` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many attempts from this address; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Attempt:
    """One reserved attempt at an account from an address: the ``number``-th wrong one in a
    row if it turns out wrong."""

    username: str
    address: str
    number: int


@dataclass(frozen=True, slots=True)
class Failure:
    """The outcome of a wrong attempt: attempts left before the lock (0: now locked)."""

    left: int
    locked_until: datetime | None


class LoginGuard:
    """Counts attempts for one realm of accounts (``admin``, ``digid``, ``eherkenning``)."""

    def __init__(self, store: StateStore, realm: str, policy: AccountPolicy,
                 clock: Callable[[], datetime]) -> None:
        self._store, self._realm, self._policy, self._clock = store, realm, policy, clock

    def check(self, username: str, address: str) -> Attempt:
        """Before checking a password or code: reserve the attempt, or raise
        :class:`TooManyAttempts` (the address is held) or :class:`AccountLocked`."""
        policy = self._policy
        held = self._store.incr(self._address_key(address), policy.address_window_seconds)
        if held > policy.address_attempts:
            raise TooManyAttempts(policy.address_window_seconds)
        until = self.locked_until(username)
        if until is not None:
            raise AccountLocked(until)
        number = self._store.incr(self._failures_key(username), policy.lockout_seconds)
        if number > policy.max_failures:  # others reached the limit at the same moment
            raise AccountLocked(self._lock(username))
        return Attempt(username, address, number)

    def failed(self, attempt: Attempt) -> Failure:
        """The reserved attempt was wrong; the ``max_failures``-th in a row locks."""
        left = max(self._policy.max_failures - attempt.number, 0)
        return Failure(left=left, locked_until=self._lock(attempt.username) if left == 0
                       else None)

    def succeeded(self, attempt: Attempt) -> None:
        """The reserved attempt was right and completes the login: the account's count starts
        again, and the address gets its count back."""
        self._store.delete(self._failures_key(attempt.username))
        self._give_back_address(attempt)

    def passed(self, attempt: Attempt) -> None:
        """The reserved attempt was right, or was no guess at all, but does not complete the
        login (a password before its code): give back only what this attempt took."""
        self._store.incr(self._failures_key(attempt.username), self._policy.lockout_seconds, -1)
        self._give_back_address(attempt)

    def _give_back_address(self, attempt: Attempt) -> None:
        self._store.incr(self._address_key(attempt.address),
                         self._policy.address_window_seconds, -1)

    def failures(self, username: str) -> int:
        """Wrong attempts at ``username`` counted now (those in flight included)."""
        return self._store.count(self._failures_key(username))

    def locked_until(self, username: str) -> datetime | None:
        lock = self._store.get(self._lock_key(username))
        if lock is None:
            return None
        until = datetime.fromisoformat(lock["until"])
        return until if until > self._clock() else None

    def unlock(self, username: str) -> bool:
        """Lift a lock and forget the count (an administrator's action); True when locked."""
        was_locked = self.locked_until(username) is not None
        self._store.delete(self._lock_key(username))
        self._store.delete(self._failures_key(username))
        return was_locked

    def _lock(self, username: str) -> datetime:
        """Lock ``username`` for the cool-down from now. The count is kept: it began no later
        than the lock, so it ends no later, and until then any attempt beyond the limit finds
        the account locked even if it slipped past the lock's check."""
        until = self._clock() + timedelta(seconds=self._policy.lockout_seconds)
        self._store.put(self._lock_key(username), {"until": until.isoformat()},
                        self._policy.lockout_seconds)
        return until

    def _address_key(self, address: str) -> str:
        return f"attempts:{self._realm}:{_digest(address)}"

    def _failures_key(self, username: str) -> str:
        return f"failures:{self._realm}:{_digest(username)}"

    def _lock_key(self, username: str) -> str:
        return f"lock:{self._realm}:{_digest(username)}"


def _digest(value: str) -> str:
    """What the store keeps of a username or address: never the value itself."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]
