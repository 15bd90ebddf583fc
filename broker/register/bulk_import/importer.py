"""The import itself: every row read, validated and chain-checked, then written batch by batch
(see the package's docstring).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import TypeVar

from sqlalchemy.orm import Session

from broker.clock import utcnow
from broker.register.bulk_import.chains import ChainGuard
from broker.register.bulk_import.readers import Parsed
from broker.register.bulk_import.readers import format_for
from broker.register.bulk_import.readers import read_csv
from broker.register.bulk_import.readers import read_jsonl
from broker.register.bulk_import.report import ImportReport
from broker.register.bulk_import.report import Rejection
from broker.register.bulk_import.report import RowError
from broker.register.bulk_import.rows import Row
from broker.register.bulk_import.rows import Validator
from broker.register.bulk_import.writer import flush
from broker.services import ServiceCatalogue

#: rows per transaction: larger batches rewrite the indexes' pages fewer times
BATCH_SIZE = 20_000


#: SQLite page cache during an import (KiB): random import keys make the index pages hot
SQLITE_CACHE_KIB = 65536


_T = TypeVar("_T")


def import_file(session: Session, catalogue: ServiceCatalogue, path: Path, *, actor: str,
                fmt: str | None = None, dry_run: bool = False, batch_size: int = BATCH_SIZE,
                progress: Callable[[int], None] | None = None,
                now: datetime | None = None, chain_depth: int = 1) -> ImportReport:
    """Import ``path`` (streamed); ``progress(n)`` is called with each batch's row count."""
    kind = format_for(path, fmt)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = read_csv(handle) if kind == "csv" else read_jsonl(handle)
        return import_rows(session, catalogue, rows, actor=actor, dry_run=dry_run,
                           batch_size=batch_size, progress=progress, now=now,
                           chain_depth=chain_depth)


def import_rows(session: Session, catalogue: ServiceCatalogue, rows: Iterable[Parsed], *,
                actor: str, dry_run: bool = False, batch_size: int = BATCH_SIZE,
                progress: Callable[[int], None] | None = None,
                now: datetime | None = None, chain_depth: int = 1) -> ImportReport:
    """Validate every row, then write the new ones batch by batch (one transaction each)."""
    now = now or utcnow()
    validator = Validator(catalogue, today=now.date())
    report = ImportReport(dry_run=dry_run)
    with _sqlite_cache(session):
        _run(session, validator, rows, report, actor=actor, dry_run=dry_run,
             batch_size=batch_size, progress=progress, now=now, chain_depth=chain_depth)
    return report


def _chunks(rows: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _run(session: Session, validator: Validator, rows: Iterable[Parsed], report: ImportReport,
         *, actor: str, dry_run: bool, batch_size: int, progress: Callable[[int], None] | None,
         now: datetime, chain_depth: int) -> None:
    """Validate ``batch_size`` rows at a time, check their chain rows together, then take the
    rows in file order into batches of ``batch_size`` accepted rows, each flushed when full;
    a flushed batch's chain rows are the database's from then on."""
    batch: list[tuple[Row, str]] = []
    consumed = 0
    chains = ChainGuard(session, chain_depth, now)
    options: dict[str, Any] = {"actor": actor, "now": now, "dry_run": dry_run}
    for chunk in _chunks(rows, batch_size):
        outcomes = _validated(validator, chunk)
        for line, outcome in _chain_checked(chains, outcomes):
            consumed += 1
            if isinstance(outcome, RowError):
                report.rejected.append(Rejection(line, outcome.text))
            else:
                batch.append(outcome)
            if len(batch) >= batch_size:
                chains.flushed(batch, flush(session, batch, report, **options))
                batch = []
                if progress:
                    progress(consumed)
                consumed = 0
    chains.flushed(batch, flush(session, batch, report, **options))
    if progress and consumed:
        progress(consumed)


def _validated(validator: Validator,
               chunk: list[Parsed]) -> list[tuple[int, tuple[Row, str] | RowError]]:
    """Each row of ``chunk`` validated and keyed, or why not."""
    outcomes: list[tuple[int, tuple[Row, str] | RowError]] = []
    for line, fields in chunk:
        try:
            row = validator.check(fields)
        except RowError as error:  # without its traceback: no cycle through this frame
            outcomes.append((line, error.with_traceback(None)))
        else:
            outcomes.append((line, (row, row.key())))
    return outcomes


def _chain_checked(chains: ChainGuard, outcomes: list[tuple[int, tuple[Row, str] | RowError]]
                   ) -> list[tuple[int, tuple[Row, str] | RowError]]:
    """``outcomes`` with the chain rows that break the chain rules refused."""
    valid = [(i, outcome) for i, (_, outcome) in enumerate(outcomes)
             if not isinstance(outcome, RowError)]
    objections = chains.check([outcome for _, outcome in valid])
    for (i, _), objection in zip(valid, objections, strict=True):
        if objection is not None:
            outcomes[i] = (outcomes[i][0], objection)
    return outcomes


@contextmanager
def _sqlite_cache(session: Session) -> Iterator[None]:
    """A larger page cache on SQLite while importing; restored afterwards."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    connection = session.connection()
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        session.connection().exec_driver_sql(f"PRAGMA cache_size={int(before)}")
        session.commit()
