"""Named locks held until the transaction ends, for changes that check before they write.

"No duplicate of an authorisation in force" and "no chain that loops" are checks over rows
that do not exist yet, so no row lock or unique index can guard them: two requests that check
at the same moment both find nothing and both write. :func:`hold` serialises them instead. It
writes a row of :class:`LockBucket` for each name, which takes that row's lock (PostgreSQL)
or the database's write lock (SQLite) until the transaction commits or rolls back; the other
request waits there, and checks only after the first one's rows are visible.

Names are hashed into :data:`BUCKETS` rows, so the table never grows past that, whatever names
are used; two names that share a bucket only wait for each other.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from sqlalchemy import Integer
from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column

from broker.db import Base

BUCKETS = 4096


class LockBucket(Base):
    """One lockable row. Holding it is writing it: its one column is written with the value it
    has, which takes the lock as any write does."""

    __tablename__ = "lock_bucket"
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


def hold(session: Session, *names: str) -> None:
    """Lock ``names`` for the rest of ``session``'s transaction (always in the same order, so
    two holders of overlapping names cannot deadlock)."""
    statement = _take(session.get_bind().dialect.name)
    for bucket in sorted({_bucket(name) for name in names}):
        session.execute(statement, {"bucket": bucket})


def _bucket(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") % BUCKETS


@functools.cache
def _take(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row = insert(LockBucket).values(bucket=bindparam("bucket"))
    return row.on_conflict_do_update(index_elements=[LockBucket.bucket],
                                     set_={"bucket": row.excluded.bucket})
