"""Short-lived state with expiry and single use: flows, authorization codes, request ids,
replay marks.

:class:`StateStore` is the interface; :class:`SqlStateStore` keeps the state in the broker's
database, so that single use holds across processes sharing that database. Every operation is
one statement or one guarded delete, so two processes racing for the same key see exactly one
winner.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Protocol

from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from broker.db import EphemeralState
from broker.db import StateCounter
from broker.db import aware
from broker.db import utcnow


class StateStore(Protocol):
    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing what was there."""

    def get(self, key: str) -> dict[str, Any] | None:
        """The live value under ``key``, or None when absent or expired."""

    def take(self, key: str) -> dict[str, Any] | None:
        """Remove and return the live value: of two concurrent callers, only one gets it."""

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        """Store only when ``key`` holds nothing live; True when this call stored it."""

    def delete(self, key: str) -> None: ...

    def incr(self, key: str, ttl: int) -> int:
        """Add one to the counter under ``key`` and return it; a new counter (the first call,
        or after the last one expired) starts at 1 and lives ``ttl`` seconds."""


class SqlStateStore:
    """A :class:`StateStore` on the broker's SQL database."""

    def __init__(self, session: Callable[[], Session],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._session = session
        self._clock = clock

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        session = self._session()
        statement = _upsert(session).values(key=key, value=json.dumps(value),
                                            expires_at=self._expiry(ttl))
        session.execute(statement.on_conflict_do_update(
            index_elements=[EphemeralState.key],
            set_={"value": statement.excluded.value, "expires_at": statement.excluded.expires_at}))
        session.commit()

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._session().execute(
            select(EphemeralState.value, EphemeralState.expires_at)
            .where(EphemeralState.key == key)
        ).first()
        if row is None or aware(row.expires_at) <= self._clock():
            return None
        return json.loads(row.value)  # type: ignore[no-any-return]

    def take(self, key: str) -> dict[str, Any] | None:
        """One DELETE ... RETURNING: of two callers, the database gives the row to one."""
        session = self._session()
        row = session.execute(delete(EphemeralState).where(EphemeralState.key == key).returning(
            EphemeralState.value, EphemeralState.expires_at)).first()
        session.commit()
        if row is None or aware(row.expires_at) <= self._clock():
            return None
        return json.loads(row.value)  # type: ignore[no-any-return]

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        """One INSERT that replaces only an expired entry: a live one makes it return no row."""
        session = self._session()
        statement = _upsert(session).values(key=key, value=json.dumps(value),
                                            expires_at=self._expiry(ttl))
        stored = session.execute(statement.on_conflict_do_update(
            index_elements=[EphemeralState.key],
            set_={"value": statement.excluded.value, "expires_at": statement.excluded.expires_at},
            where=EphemeralState.expires_at <= self._clock(),
        ).returning(EphemeralState.key)).first()
        session.commit()
        return stored is not None

    def delete(self, key: str) -> None:
        session = self._session()
        session.execute(delete(EphemeralState).where(EphemeralState.key == key))
        session.commit()

    def incr(self, key: str, ttl: int) -> int:
        """One INSERT ... ON CONFLICT DO UPDATE ... RETURNING: the database orders concurrent
        callers on the key, so each gets its own number; an expired counter starts again."""
        session = self._session()
        statement = _upsert(session, StateCounter).values(key=key, count=1,
                                                          expires_at=self._expiry(ttl))
        live = StateCounter.expires_at > self._clock()
        count = session.execute(statement.on_conflict_do_update(
            index_elements=[StateCounter.key],
            set_={"count": case((live, StateCounter.count + 1), else_=1),
                  "expires_at": case((live, StateCounter.expires_at),
                                     else_=statement.excluded.expires_at)},
        ).returning(StateCounter.count)).scalar_one()
        session.commit()
        return int(count)

    def purge_expired(self) -> int:
        session = self._session()
        result = session.execute(
            delete(EphemeralState).where(EphemeralState.expires_at <= self._clock()))
        session.execute(delete(StateCounter).where(StateCounter.expires_at <= self._clock()))
        session.commit()
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _expiry(self, ttl: int) -> datetime:
        return self._clock() + timedelta(seconds=ttl)


def _upsert(session: Session, table: Any = EphemeralState) -> Any:
    """INSERT with ON CONFLICT for the session's database (SQLite and PostgreSQL say it alike)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
