"""Lockout per account and rate limits per address, for every login and code-entry form.

An account locks after ``max_failures`` wrong passwords or codes in a row, for
``lockout_seconds`` (the cool-down) or until an administrator unlocks it; a right answer resets
the count. Independently, a client address may make ``address_attempts`` attempts per window
over all accounts, which stops one machine from trying one password against many accounts.
Wrong attempts on an unknown account count against the address too, so probing usernames costs
the same as guessing passwords.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from broker.accounts.models import LoginLock
from broker.accounts.policy import AccountPolicy
from broker.db import aware
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
class Failure:
    """The outcome of a wrong attempt: attempts left before the lock (0: now locked)."""

    left: int
    locked_until: datetime | None


class LoginGuard:
    """Counts attempts for one realm of accounts (``admin``, ``digid``, ``eherkenning``)."""

    def __init__(self, session: Callable[[], Session], store: StateStore, realm: str,
                 policy: AccountPolicy, clock: Callable[[], datetime]) -> None:
        self._session, self._store, self._realm = session, store, realm
        self._policy, self._clock = policy, clock

    def check(self, username: str, address: str) -> None:
        """Before checking a password or code: raise when the address or account is held."""
        counted = self._store.incr(self._address_key(address), self._policy.address_window_seconds)
        if counted > self._policy.address_attempts:
            raise TooManyAttempts(self._policy.address_window_seconds)
        until = self.locked_until(username)
        if until is not None:
            raise AccountLocked(until)

    def locked_until(self, username: str) -> datetime | None:
        lock = self._session().get(LoginLock, (self._realm, username))
        if lock is None or lock.locked_until is None:
            return None
        until = aware(lock.locked_until)
        return until if until > self._clock() else None

    def failed(self, username: str) -> Failure:
        """Count a wrong password or code; the ``max_failures``-th in a row locks."""
        session = self._session()
        lock = session.get(LoginLock, (self._realm, username))
        if lock is None:
            lock = LoginLock(realm=self._realm, username=username, failures=0)
            session.add(lock)
        elif lock.locked_until is not None and aware(lock.locked_until) <= self._clock():
            lock.failures, lock.locked_until = 0, None  # the cool-down is over: start again
        lock.failures += 1
        if lock.failures >= self._policy.max_failures:
            lock.locked_until = self._clock() + timedelta(seconds=self._policy.lockout_seconds)
        session.commit()
        left = max(self._policy.max_failures - lock.failures, 0)
        return Failure(left=left, locked_until=aware(lock.locked_until)
                       if lock.locked_until else None)

    def succeeded(self, username: str) -> None:
        self._reset(username)

    def unlock(self, username: str) -> bool:
        """Lift a lock (an administrator's action); True when there was one."""
        was_locked = self.locked_until(username) is not None
        self._reset(username)
        return was_locked

    def _reset(self, username: str) -> None:
        session = self._session()
        session.execute(update(LoginLock).where(
            LoginLock.realm == self._realm, LoginLock.username == username,
        ).values(failures=0, locked_until=None))
        session.commit()

    def _address_key(self, address: str) -> str:
        digest = hashlib.sha256(address.encode()).hexdigest()[:32]  # no address in the store
        return f"attempts:{self._realm}:{digest}"
