"""Short-lived state with expiry and single use: flows, authorization codes, request ids,
replay marks.

:class:`StateStore` is the interface; :class:`SqlStateStore` keeps the state in the broker's
database, so that single use holds across processes sharing that database. Every operation is
one statement or one guarded delete, so two processes racing for the same key see exactly one
winner. Each commits at once, unless it runs inside :func:`broker.db.one_transaction`: then it
is part of that block's transaction (a login's last step takes its flow and stores its code
in the transaction that records the login).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Protocol

from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from broker.clock import aware
from broker.clock import utcnow
from broker.config import Settings
from broker.db import EphemeralState
from broker.db import StateCounter
from broker.db import commit


class StateStore(Protocol):
    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing what was there."""

    def get(self, key: str) -> dict[str, Any] | None:
        """The live value under ``key``, or None when absent or expired."""

    def take(self, key: str) -> dict[str, Any] | None:
        """Remove and return the live value: of two concurrent callers, only one gets it."""

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        """Store only when ``key`` holds nothing live; True when this call stored it."""

    def delete(self, key: str) -> None:
        """Remove whatever is under ``key``: a value or a counter."""

    def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        """Add ``amount`` (1, or -1 to give one back) to the counter under ``key`` and return
        the new count; a new counter (the first call, or after the last one expired) starts
        from 0 and lives ``ttl`` seconds. Concurrent callers each get their own count."""

    def count(self, key: str) -> int:
        """The live count under ``key``; 0 when there is none."""

    def advance(self, *, take: str, put: tuple[str, dict[str, Any], int],
                mark: tuple[str, int] | None = None) -> str | None:
        """One step, all or nothing: take the live value under ``take``, add ``mark`` (key,
        ttl) if it holds nothing live, store ``put`` (key, value, ttl). None when done; else
        what stopped it, and nothing changed: "taken" (``take`` held nothing live, e.g. a
        concurrent caller took it) or "marked" (``mark`` was live)."""


class SqlStateStore:
    """A :class:`StateStore` on the broker's SQL database.

    Its statements are built once per dialect with bound parameters, so a call pays for
    executing one statement, not for building and compiling it.
    """

    def __init__(self, session: Callable[[], Session],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._session = session
        self._clock = clock

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        session = self._session()
        session.connection().execute(_statements(session).put, {
            "key": _column_key(key), "value": json.dumps(value), "expires_at": self._expiry(ttl)})
        commit(session)

    def get(self, key: str) -> dict[str, Any] | None:
        session = self._session()
        row = session.connection().execute(_statements(session).get, {"key": _column_key(key)}).first()
        return self._live(row)

    def take(self, key: str) -> dict[str, Any] | None:
        """One DELETE ... RETURNING: of two callers, the database gives the row to one."""
        session = self._session()
        row = session.connection().execute(_statements(session).take, {"key": _column_key(key)}).first()
        commit(session)
        return self._live(row)

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        """One INSERT that replaces only an expired entry: a live one makes it return no row."""
        session = self._session()
        stored = session.connection().execute(_statements(session).add, {
            "key": _column_key(key), "value": json.dumps(value), "expires_at": self._expiry(ttl),
            "now": self._clock()}).first()
        commit(session)
        return stored is not None

    def delete(self, key: str) -> None:
        session = self._session()
        connection, statements = session.connection(), _statements(session)
        connection.execute(statements.delete, {"key": _column_key(key)})
        connection.execute(statements.delete_counter, {"key": _column_key(key)})
        commit(session)

    def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        """One INSERT ... ON CONFLICT DO UPDATE ... RETURNING: the database orders concurrent
        callers on the key, so each gets its own number; an expired counter starts again."""
        session = self._session()
        count = session.connection().execute(_statements(session).incr, {
            "key": _column_key(key), "amount": amount, "expires_at": self._expiry(ttl),
            "now": self._clock()}).scalar_one()
        commit(session)
        return int(count)

    def count(self, key: str) -> int:
        session = self._session()
        row = session.connection().execute(_statements(session).count, {"key": _column_key(key)}).first()
        if row is None:
            return 0
        count, expires_at = row
        return int(count) if aware(expires_at) > self._clock() else 0

    def advance(self, *, take: str, put: tuple[str, dict[str, Any], int],
                mark: tuple[str, int] | None = None) -> str | None:
        """In one transaction: DELETE ... RETURNING of ``take`` (of two callers, one gets the
        row; the other waits for the first to commit and finds nothing), then the mark and the
        value. A mark found live puts the taken row back before anything is committed."""
        session = self._session()
        connection, statements = session.connection(), _statements(session)
        taken = connection.execute(statements.take, {"key": _column_key(take)}).first()
        if taken is None or self._live(taken) is None:
            return "taken"
        if mark is not None and connection.execute(statements.add, {
                "key": _column_key(mark[0]), "value": "{}", "expires_at": self._expiry(mark[1]),
                "now": self._clock()}).first() is None:
            connection.execute(statements.put, {"key": _column_key(take), "value": taken.value,
                                                "expires_at": taken.expires_at})
            commit(session)
            return "marked"
        key, value, ttl = put
        connection.execute(statements.put, {"key": _column_key(key), "value": json.dumps(value),
                                            "expires_at": self._expiry(ttl)})
        commit(session)
        return None

    def purge_expired(self) -> int:
        session = self._session()
        result = session.execute(
            delete(EphemeralState).where(EphemeralState.expires_at <= self._clock()))
        session.execute(delete(StateCounter).where(StateCounter.expires_at <= self._clock()))
        commit(session)
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _expiry(self, ttl: int) -> datetime:
        return self._clock() + timedelta(seconds=ttl)

    def _live(self, row: Any) -> dict[str, Any] | None:
        if row is None or aware(row.expires_at) <= self._clock():
            return None
        return json.loads(row.value)  # type: ignore[no-any-return]


#: the key column's width; a longer key (one built from request data, e.g. a long entity id)
#: is kept as its readable prefix and a digest of the whole
KEY_WIDTH = 200


def _column_key(key: str) -> str:
    if len(key) <= KEY_WIDTH:
        return key
    prefix = key[:key.find(":") + 1] if 0 < key.find(":") < 60 else ""
    return f"{prefix}sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def open_store(settings: Settings, session: Callable[[], Session]) -> StateStore:
    """The store ``settings`` name: Redis at ``redis_url`` (checked now), else the broker's
    database through ``session``. The broker and its command line use the same one."""
    if settings.redis_url:
        from broker.state_redis import connect

        return connect(settings.redis_url, settings.redis_prefix)
    return SqlStateStore(session)


@dataclass(frozen=True, slots=True)
class _Statements:
    """The store's statements for one dialect, with bound parameters named as in the calls."""

    put: Any
    get: Any
    take: Any
    add: Any
    delete: Any
    delete_counter: Any
    incr: Any
    count: Any


@functools.cache
def _statements_for(dialect: str) -> _Statements:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    state = insert(EphemeralState).values(
        key=bindparam("key"), value=bindparam("value"), expires_at=bindparam("expires_at"))
    replace = {"value": state.excluded.value, "expires_at": state.excluded.expires_at}
    counter = insert(StateCounter).values(
        key=bindparam("key"), count=bindparam("amount"), expires_at=bindparam("expires_at"))
    live = StateCounter.expires_at > bindparam("now")
    by_key = EphemeralState.key == bindparam("key")
    return _Statements(
        put=state.on_conflict_do_update(index_elements=[EphemeralState.key], set_=replace),
        get=select(EphemeralState.value, EphemeralState.expires_at).where(by_key),
        take=delete(EphemeralState).where(by_key).returning(
            EphemeralState.value, EphemeralState.expires_at),
        add=state.on_conflict_do_update(
            index_elements=[EphemeralState.key], set_=replace,
            where=EphemeralState.expires_at <= bindparam("now")).returning(EphemeralState.key),
        delete=delete(EphemeralState).where(by_key),
        delete_counter=delete(StateCounter).where(StateCounter.key == bindparam("key")),
        incr=counter.on_conflict_do_update(
            index_elements=[StateCounter.key],
            set_={"count": case((live, StateCounter.count + counter.excluded.count),
                                else_=counter.excluded.count),
                  "expires_at": case((live, StateCounter.expires_at),
                                     else_=counter.excluded.expires_at)},
        ).returning(StateCounter.count),
        count=select(StateCounter.count, StateCounter.expires_at).where(
            StateCounter.key == bindparam("key")),
    )


def _statements(session: Session) -> _Statements:
    """The statements for the session's database (SQLite and PostgreSQL say them alike)."""
    return _statements_for(session.get_bind().dialect.name)
