"""Writing a batch of valid rows: the rows whose import key is new, in one transaction, with
Core executemany (COPY on PostgreSQL), their history events and one audit entry per batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy import any_
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from broker import audit
from broker.register.bulk_import.report import ImportReport
from broker.register.bulk_import.rows import Row
from broker.register.bulk_import.rows import midnight
from broker.register.models import ACTIVE
from broker.register.models import Mandate
from broker.register.models import MandateEvent

ACTION = "imported"


def among(session: Session, column: Any, values: list[str]) -> Any:
    """``column IN values`` with one bound parameter (``json_each`` on SQLite, ``= ANY`` on
    PostgreSQL): SQLAlchemy's IN with a bound parameter per value (20,000 import keys) cost
    more than the query itself."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return column.in_(sql_text("SELECT value FROM json_each(:among)").bindparams(
            among=json.dumps(values)).columns(value=String))
    if dialect == "postgresql":
        return column == any_(bindparam("among", values, type_=postgresql.ARRAY(String)))
    return column.in_(values)


def flush(session: Session, batch: list[tuple[Row, str]], report: ImportReport, *,
           actor: str, now: datetime, dry_run: bool) -> set[str]:
    """Skip rows already present; write the rest, mandates and events, in one transaction.
    Returns the import keys written (none in a dry run)."""
    if not batch:
        return set()
    present = present_keys(session, [key for _, key in batch])
    new: list[tuple[Row, str]] = []
    for row, key in batch:
        if key in present:
            report.skipped += 1
        else:
            present.add(key)
            new.append((row, key))
    if not dry_run and new:
        try:
            _write(session, new, actor=actor, now=now)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    elif dry_run:
        session.rollback()  # end the read transaction; nothing was written
    report.accepted += len(new)
    return set() if dry_run else {key for _, key in new}


def present_keys(session: Session, keys: list[str]) -> set[str]:
    """The subset of ``keys`` already in the register."""
    return set(session.scalars(select(Mandate.import_key).where(
        among(session, Mandate.import_key, keys))))


_MANDATE_COLUMNS = ("id", "kind", "represented_type", "represented_id", "representative_type",
                    "representative_id", "services", "loa", "valid_from", "valid_until", "state",
                    "created_at", "extra", "import_key")


_EVENT_COLUMNS = ("mandate_id", "at", "actor", "action", "to_state", "reason")


class _Insert:
    """An executemany INSERT of fixed columns, with values converted by the columns' own
    SQLAlchemy types once per distinct value (dates, service lists and times repeat), then
    handed to the driver in one call: SQLAlchemy's per-row parameter processing was half the
    time of an import."""

    def __init__(self, session: Session, table: Any, columns: tuple[str, ...]) -> None:
        dialect = session.get_bind().dialect
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        self._sql = str(compiled)
        self._order = [columns.index(name) for name in compiled.positiontup or ()] \
            if compiled.positional else None
        self._columns = columns
        self._processors = {name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                            for name in columns}
        self._memo: dict[tuple[str, Any], Any] = {}

    def value(self, column: str, value: Any, memo_key: Any = None) -> Any:
        """``value`` as the driver takes it; ``memo_key`` (hashable) caches the conversion."""
        processor = self._processors[column]
        if processor is None or value is None:
            return value
        if memo_key is None:
            return processor(value)
        key = (column, memo_key)
        converted = self._memo.get(key)
        if converted is None:
            if len(self._memo) > 10_000:
                self._memo.clear()
            converted = self._memo[key] = processor(value)
        return converted

    def execute(self, session: Session, rows: list[Any]) -> None:
        if self._order is not None:
            order = self._order
            params: list[Any] = rows if order == list(range(len(order))) else [
                tuple(row[i] for i in order) for row in rows]
        else:
            params = [dict(zip(self._columns, row, strict=True)) for row in rows]
        session.connection().exec_driver_sql(self._sql, params)


class _Copy:
    """PostgreSQL through psycopg: ``COPY table (columns) FROM STDIN`` of fixed columns, in the
    session's transaction. psycopg's executemany sends one INSERT per row (pipelined); COPY
    streams the rows, several times faster. The rows are lines of COPY's text format, made by
    :func:`_copy_lines`: psycopg's ``write_row`` adapting each value was a third of the
    Python time of an import."""

    def __init__(self, session: Session, table: Any, columns: tuple[str, ...]) -> None:
        quote = session.get_bind().dialect.identifier_preparer
        self._sql = (f"COPY {quote.format_table(table)} "
                     f"({', '.join(quote.quote(name) for name in columns)}) FROM STDIN")

    def execute(self, session: Session, rows: list[str]) -> None:
        connection = session.connection().connection.driver_connection
        assert connection is not None  # checked out by the session for this transaction
        with connection.cursor() as cursor, cursor.copy(self._sql) as copy:
            for start in range(0, len(rows), 1000):
                copy.write("".join(rows[start:start + 1000]))


def _copies(session: Session) -> bool:
    """Whether to write with COPY: PostgreSQL through psycopg (else an executemany INSERT)."""
    dialect = session.get_bind().dialect
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def _write(session: Session, rows: list[tuple[Row, str]], *, actor: str,
           now: datetime) -> None:
    ids = _time_ordered_ids(len(rows))
    if _copies(session):
        mandate_insert: _Insert | _Copy = _Copy(session, Mandate.__table__, _MANDATE_COLUMNS)
        event_insert: _Insert | _Copy = _Copy(session, MandateEvent.__table__, _EVENT_COLUMNS)
        mandates, events = _copy_lines(rows, ids, actor=actor, now=now)
    else:
        mandate_insert = _Insert(session, Mandate.__table__, _MANDATE_COLUMNS)
        event_insert = _Insert(session, MandateEvent.__table__, _EVENT_COLUMNS)
        mandates, events = _insert_rows(mandate_insert, event_insert, rows, ids, actor=actor,
                                        now=now)
    _insert_mandates(session, mandate_insert, mandates)
    _insert_events(session, event_insert, events)
    _audit_batch(session, rows, ids, actor=actor)


def _insert_rows(mandate_insert: _Insert, event_insert: _Insert, rows: list[tuple[Row, str]],
                 ids: list[str], *, actor: str, now: datetime) -> tuple[list[Any], list[Any]]:
    """The mandates and their events as the driver takes them, in the order of the columns."""
    mandate_value, event_value = mandate_insert.value, event_insert.value
    created, at = mandate_value("created_at", now, "now"), event_value("at", now, "now")
    mandates: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for (row, key), mandate_id in zip(rows, ids, strict=True):
        until = row.valid_until
        mandates.append((
            mandate_id, row.kind, row.represented[0], row.represented[1],
            row.representative[0], row.representative[1],
            mandate_value("services", list(row.services), row.services), row.loa,
            mandate_value("valid_from", midnight(row.valid_from), row.valid_from),
            mandate_value("valid_until", midnight(until), until) if until else None, ACTIVE,
            created, mandate_value("extra", {"branch": row.branch} if row.branch else {},
                                   row.branch or ""), key))
        events.append((mandate_id, at, actor, ACTION, ACTIVE, "bulk import"))
    return mandates, events


def _copy_lines(rows: list[tuple[Row, str]], ids: list[str], *, actor: str,
                now: datetime) -> tuple[list[str], list[str]]:
    """The mandates and their events as lines of COPY's text format (tab between columns,
    ``\\N`` for NULL). Identifiers, pseudonyms, kinds, levels, dates and keys are validated
    to ASCII letters, digits and ``@._:-``, so only the JSON texts and the actor are escaped.
    Timestamps in ISO 8601 with their offset; JSON as the JSON type would send it."""
    text = _CopyText()
    event_tail = (f"\t{now.isoformat()}\t{_copy_escape(actor)}\t{ACTION}\t{ACTIVE}\t"
                  "bulk import\n")
    middle = f"\t{ACTIVE}\t{now.isoformat()}\t"
    mandates: list[str] = []
    events: list[str] = []
    for (row, key), mandate_id in zip(rows, ids, strict=True):
        represented_type, represented = row.represented
        representative_type, representative = row.representative
        mandates.append(
            f"{mandate_id}\t{row.kind}\t{represented_type}\t{represented}\t"
            f"{representative_type}\t{representative}\t{text.services(row.services)}\t"
            f"{row.loa or _NULL}\t{text.day(row.valid_from)}\t{text.day(row.valid_until)}"
            f"{middle}{text.branch(row.branch)}\t{key}\n")
        events.append(mandate_id + event_tail)
    return mandates, events


_NULL = "\\N"


def _copy_escape(value: str) -> str:
    """``value`` as a column of COPY's text format."""
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


class _CopyText:
    """COPY texts of the values that repeat over a batch, made once per distinct value."""

    def __init__(self) -> None:
        self._services: dict[tuple[str, ...], str] = {}
        self._days: dict[date | None, str] = {None: _NULL}
        self._extras: dict[str | None, str] = {}

    def services(self, services: tuple[str, ...]) -> str:
        text = self._services.get(services)
        if text is None:
            text = self._services[services] = _copy_escape(json.dumps(list(services)))
        return text

    def day(self, day: date | None) -> str:
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = midnight(day).isoformat()  # type: ignore[arg-type]
        return text

    def branch(self, branch: str | None) -> str:
        text = self._extras.get(branch)
        if text is None:
            text = self._extras[branch] = _copy_escape(json.dumps(
                {"branch": branch} if branch else {}))
        return text


def _audit_batch(session: Session, rows: list[tuple[Row, str]], ids: list[str], *,
                 actor: str) -> None:
    """One audit entry for the whole batch, in its transaction: how many, which ids (they are
    time-ordered, so first and last bound them) and a digest of the import keys in order."""
    keys = hashlib.sha256("\n".join(key for _, key in rows).encode("ascii")).hexdigest()
    audit.record(session, actor=actor, action="mandates.imported",
                 detail={"count": len(rows), "first_id": ids[0], "last_id": ids[-1],
                         "keys_sha256": keys})


def _insert_mandates(session: Session, statement: _Insert | _Copy, rows: list[Any]) -> None:
    statement.execute(session, rows)


def _insert_events(session: Session, statement: _Insert | _Copy, rows: list[Any]) -> None:
    statement.execute(session, rows)


def _time_ordered_ids(count: int) -> list[str]:
    """UUIDv7-style ids (time first, then a random run): appended to the primary key and the
    events' mandate_id index instead of scattered over them, which is most of SQLite's cost.
    Formatted directly (the same text as ``str(uuid.UUID(...))``, at a third of the cost)."""
    millis = time.time_ns() // 1_000_000
    start = int.from_bytes(os.urandom(8)) >> 2
    high = (millis << 80) | (0x7 << 76) | (int.from_bytes(os.urandom(2)) & 0xFFF) << 64
    ids = []
    for n in range(count):
        h = f"{high | (0b10 << 62) | ((start + n) & ((1 << 62) - 1)):032x}"
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids
