"""Bulk import benchmark: generate a CSV with exactly 1% bad rows, import it, check, measure.

Usage::

    .venv/bin/python benchmarks/bulk_import.py [--rows 100000] [--batch-size 20000]
    .venv/bin/python benchmarks/bulk_import.py --rows 1000000 \
        --database-url postgresql://root@127.0.0.1/bench_import

Imports into a fresh database with the demo catalogue, its schema made by the broker's
migrations: by default a SQLite file in a temporary folder; with ``--database-url`` a new
PostgreSQL database of that name, created here and dropped at the end (unless ``--keep``).
Checks that the report is exact (accepted rows, rejected line numbers, rows, history events and
audit entries in the database), imports the file a second time (everything must be skipped),
and prints rows per second and memory. The timed run has no tracemalloc (it slows Python
down); a second, separate import into another fresh database (``NAME_traced``) measures the
tracemalloc peak, batch by batch, so that the peak after the first tenth of the file can be
set beside the peak at its end (memory flat in the file's size). The resident set size (RSS)
of this process is read after every batch of the timed run.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fresh_database import fresh_database  # noqa: E402
from fresh_database import migrated_app  # noqa: E402
from fresh_database import versions  # noqa: E402

from broker.audit import AuditEntry  # noqa: E402
from broker.context import service_from_record  # noqa: E402
from broker.db import ServiceRecord  # noqa: E402
from broker.demo.seed import seed  # noqa: E402
from broker.register.bulk_import import BATCH_SIZE  # noqa: E402
from broker.register.bulk_import import ImportReport  # noqa: E402
from broker.register.bulk_import import import_file  # noqa: E402
from broker.register.models import Mandate  # noqa: E402
from broker.register.models import MandateEvent  # noqa: E402
from broker.services import ServiceCatalogue  # noqa: E402
from broker.web.database import db  # noqa: E402

OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"
TOESLAGEN = "1373be8a-5091-5838-ac0d-b3234dc1fa5f"
HEADER = ("kind,represented_type,represented,representative_type,representative,services,"
          "loa,branch,valid_from,valid_until")
WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)
BAD_OFFSET = 37  #: data row i is bad when i % 100 == BAD_OFFSET: exactly 1% per 100 rows


def eleven_proof(seed_number: int) -> str:
    """A nine-digit number passing the 11-test, derived from ``seed_number``."""
    base = 10_000_000 + seed_number % 89_999_999
    while True:
        digits = f"{base:08d}"
        check = sum(int(d) * w for d, w in zip(digits, WEIGHTS, strict=True)) % 11
        if check < 10 and digits != "00000000":
            return digits + str(check)
        base += 1


def good_row(i: int) -> str:
    kind = ("company", "company", "chain", "voluntary")[i % 4]
    until = "" if i % 3 else "2031-12-31"
    if kind == "company":
        branch = f"{i:012d}" if i % 8 == 0 else ""
        return (f"company,kvk,{i % 90_000_000 + 10_000_000:08d},pseudonym,emp{i}@bench,{OMZET},"
                f"substantial,{branch},2025-01-01,{until}")
    if kind == "chain":
        return (f"chain,kvk,{i % 90_000_000 + 10_000_000:08d},kvk,"
                f"{(i + 1) % 90_000_000 + 10_000_000:08d},{OMZET},,,2025-01-01,{until}")
    return (f"voluntary,bsn,{eleven_proof(10 * i)},bsn,{eleven_proof(10 * i + 5)},"
            f"{INKOMSTEN} {TOESLAGEN},,,2025-01-01,{until}")


#: several kinds of bad row, in turn
BAD_ROWS = (
    lambda i: f"voluntary,bsn,123456789,bsn,{eleven_proof(i)},{INKOMSTEN},,,2025-01-01,",
    lambda i: f"company,kvk,1234567,pseudonym,emp{i}@bench,{OMZET},,,2025-01-01,",
    lambda i: f"company,rsin,111222334,pseudonym,emp{i}@bench,{OMZET},,,2025-01-01,",
    lambda i: f"company,kvk,{10_000_000 + i:08d},pseudonym,e{i},{'0' * 8}-0000-0000-0000-{'0' * 12},"
              ",,2025-01-01,",
    lambda i: f"voluntary,bsn,{eleven_proof(i)},bsn,{eleven_proof(i + 1)},{OMZET},,,2025-01-01,",
    lambda i: f"company,kvk,{10_000_000 + i:08d},pseudonym,e{i},{OMZET},,,2026-01-01,2025-06-01",
    lambda i: f"company,kvk,{10_000_000 + i:08d},pseudonym,e{i},{OMZET},,,01-01-2025,",
    lambda i: f"company,kvk,{10_000_000 + i:08d},bsn,{eleven_proof(i)},{OMZET},,,2025-01-01,",
    lambda i: f"chain,kvk,{10_000_000 + i:08d},kvk,{10_000_000 + i:08d},{OMZET},,,2025-01-01,",
    lambda i: f"company,kvk,{10_000_000 + i:08d},pseudonym,e{i},{OMZET},EH9,,2025-01-01,",
    lambda i: f"company,kvk,{10_000_000 + i:08d},pseudonym,e{i},{OMZET},,12345,2025-01-01,",
    lambda i: f"company,kvk,１２３４５６７８,pseudonym,e{i},{OMZET},,,2025-01-01,",
    lambda i: f"company,kvk,{10_000_000 + i:08d},pseudonym,e{i},{OMZET},,,2025-01-01",
)


def generate(path: Path, rows: int) -> list[int]:
    """Write the file; return the line numbers of the bad rows (the header is line 1)."""
    bad_lines: list[int] = []
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER + "\n")
        for i in range(rows):
            if i % 100 == BAD_OFFSET:
                handle.write(BAD_ROWS[len(bad_lines) % len(BAD_ROWS)](i) + "\n")
                bad_lines.append(i + 2)
            else:
                handle.write(good_row(i) + "\n")
    return bad_lines


@contextmanager
def database(url: str | None, keep: bool) -> Iterator[Any]:
    """A session on a fresh, migrated database with the demo catalogue (see fresh_database)."""
    with fresh_database(url, keep=keep) as fresh:
        app = migrated_app(fresh, "bulk-benchmark")
        with app.app_context():
            session = db.session()
            seed(session)
            try:
                yield session
            finally:
                db.session.remove()
                db.engine.dispose()


def catalogue(session: Any) -> ServiceCatalogue:
    return ServiceCatalogue([service_from_record(r) for r in session.query(ServiceRecord)])


@dataclass
class Memory:
    """Memory read after every batch: (rows so far, value in bytes)."""

    rows: int = 0
    rss: list[tuple[int, int]] = field(default_factory=list)
    traced_peak: list[tuple[int, int]] = field(default_factory=list)

    def batch(self, count: int) -> None:
        self.rows += count
        self.rss.append((self.rows, _rss()))
        if tracemalloc.is_tracing():
            self.traced_peak.append((self.rows, tracemalloc.get_traced_memory()[1]))

    @staticmethod
    def at(series: list[tuple[int, int]], rows: int) -> int:
        """The value read after the first batch that reached ``rows`` (else the last)."""
        return next((value for done, value in series if done >= rows), series[-1][1])


def _rss() -> int:
    """The resident set size of this process now (Linux), in bytes."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


@dataclass
class Run:
    report: ImportReport
    again: ImportReport
    seconds: float
    again_seconds: float
    imported: int
    events: int
    audit_entries: int
    memory: Memory


def timed_import(url: str | None, keep: bool, csv_file: Path, batch_size: int,
                 trace: bool) -> Run:
    with database(url, keep) as session:
        services = catalogue(session)
        before = session.execute(select(func.count()).select_from(Mandate)).scalar_one()
        audit_before = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        memory = Memory()
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        report = import_file(session, services, csv_file, actor="admin:benchmark",
                             batch_size=batch_size, progress=memory.batch)
        seconds = time.perf_counter() - started
        if trace:
            tracemalloc.stop()
        imported = session.execute(select(func.count()).select_from(Mandate).where(
            Mandate.import_key.is_not(None))).scalar_one()
        events = session.execute(select(func.count()).select_from(MandateEvent).where(
            MandateEvent.action == "imported")).scalar_one()
        audit_entries = session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "mandates.imported")).scalar_one()
        assert session.execute(select(func.count()).select_from(Mandate)).scalar_one() \
            == before + imported
        assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() \
            == audit_before + audit_entries
        started = time.perf_counter()
        again = import_file(session, services, csv_file, actor="admin:benchmark",
                            batch_size=batch_size)
        again_seconds = time.perf_counter() - started
        return Run(report, again, seconds, again_seconds, imported, events, audit_entries,
                   memory)


def traced_url(url: str | None) -> str | None:
    """The second database, for the traced run: NAME_traced on the same server."""
    if url is None or url.startswith("sqlite"):
        return None
    base, _, name = url.rpartition("/")
    return f"{base}/{name}_traced"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--database-url", help="postgresql://USER@HOST/NEWDB (created and "
                        "dropped, and NEWDB_traced for the traced run); default: SQLite in a "
                        "temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="skip the second, traced import")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bulk-bench-") as tmp:
        folder = Path(tmp)
        csv_file = folder / "mandates.csv"
        started = time.perf_counter()
        bad_lines = generate(csv_file, options.rows)
        print(f"generated {options.rows:,} rows ({len(bad_lines):,} bad) in "
              f"{time.perf_counter() - started:.1f} s, {csv_file.stat().st_size / 1e6:.1f} MB")
        run = timed_import(options.database_url, options.keep, csv_file, options.batch_size,
                           trace=False)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        good = options.rows - len(bad_lines)
        batches = -(-good // options.batch_size)
        report, again = run.report, run.again
        checks = {
            "accepted": report.accepted == good,
            "rejected lines": [r.line for r in report.rejected] == bad_lines,
            "skipped": report.skipped == 0,
            "mandates in db": run.imported == good,
            "history events": run.events == good,
            "audit entries (one per batch)": run.audit_entries == batches,
            "re-import adds nothing": again.accepted == 0 and again.skipped == good
            and len(again.rejected) == len(bad_lines),
        }
        tenth = options.rows // 10
        print(f"accepted {report.accepted:,}, skipped {report.skipped:,}, "
              f"rejected {len(report.rejected):,}")
        print(f"import:    {run.seconds:.2f} s = {options.rows / run.seconds:,.0f} rows/s "
              f"(batch {options.batch_size})")
        print(f"re-import: {run.again_seconds:.2f} s = {options.rows / run.again_seconds:,.0f} "
              f"rows/s (all skipped)")
        print(f"RSS during the import: {Memory.at(run.memory.rss, tenth) / 1e6:.0f} MB after "
              f"{tenth:,} rows, {run.memory.rss[-1][1] / 1e6:.0f} MB at the end")
        print(f"ru_maxrss after both imports: {rss_mb:.0f} MB")
        if not options.no_tracemalloc:
            traced = timed_import(traced_url(options.database_url), options.keep, csv_file,
                                  options.batch_size, trace=True)
            peaks = traced.memory.traced_peak
            print(f"tracemalloc peak during import: {Memory.at(peaks, tenth) / 1e6:.1f} MB after "
                  f"{tenth:,} rows, {peaks[-1][1] / 1e6:.1f} MB at the end (traced run "
                  f"{traced.seconds:.1f} s)")
        print(versions(options.database_url or "sqlite://"))
        for name, ok in checks.items():
            print(f"check {name}: {'OK' if ok else 'FAILED'}")
        return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
