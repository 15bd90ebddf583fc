"""Bulk import benchmark: generate a CSV with exactly 1% bad rows, import it, check, measure.

Usage: ``.venv/bin/python benchmarks/bulk_import.py [--rows 100000] [--batch-size 2000]``

Imports into a fresh SQLite instance (a temporary folder) with the demo catalogue, checks that
the report is exact (accepted rows, rejected line numbers, rows and history events in the
database), imports the file a second time (everything must be skipped), and prints rows per
second and peak memory. The timed run has no tracemalloc (it slows Python down); a second,
separate import into another fresh database measures the tracemalloc peak.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broker.context import service_from_record  # noqa: E402
from broker.db import ServiceRecord  # noqa: E402
from broker.db import db  # noqa: E402
from broker.demo.seed import seed  # noqa: E402
from broker.register.bulk_import import BATCH_SIZE  # noqa: E402
from broker.register.bulk_import import ImportReport  # noqa: E402
from broker.register.bulk_import import import_file  # noqa: E402
from broker.register.models import Mandate  # noqa: E402
from broker.register.models import MandateEvent  # noqa: E402
from broker.services import ServiceCatalogue  # noqa: E402

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


def database(folder: Path) -> Iterator[Any]:
    app = Flask("bulk-benchmark")
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{folder / 'broker.db'}"
    db.init_app(app)
    with app.app_context():
        db.create_all()
        session = db.session()
        seed(session)
        yield session


def catalogue(session: Any) -> ServiceCatalogue:
    return ServiceCatalogue([service_from_record(r) for r in session.query(ServiceRecord)])


def timed_import(folder: Path, csv_file: Path, batch_size: int,
                 trace: bool) -> tuple[ImportReport, ImportReport, float, float, int, int, int]:
    for session in database(folder):
        services = catalogue(session)
        before = session.execute(select(func.count()).select_from(Mandate)).scalar_one()
        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        report = import_file(session, services, csv_file, actor="admin:benchmark",
                             batch_size=batch_size)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        if trace:
            tracemalloc.stop()
        imported = session.execute(select(func.count()).select_from(Mandate).where(
            Mandate.import_key.is_not(None))).scalar_one()
        events = session.execute(select(func.count()).select_from(MandateEvent).where(
            MandateEvent.action == "imported")).scalar_one()
        assert session.execute(select(func.count()).select_from(Mandate)).scalar_one() \
            == before + imported
        started = time.perf_counter()
        again = import_file(session, services, csv_file, actor="admin:benchmark",
                            batch_size=batch_size)
        again_seconds = time.perf_counter() - started
        return report, again, seconds, again_seconds, peak, imported, events
    raise AssertionError("no database")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
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
        (folder / "timed").mkdir()
        report, again, seconds, again_seconds, _, imported, events = timed_import(
            folder / "timed", csv_file, options.batch_size, trace=False)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        good = options.rows - len(bad_lines)
        checks = {
            "accepted": report.accepted == good,
            "rejected lines": [r.line for r in report.rejected] == bad_lines,
            "skipped": report.skipped == 0,
            "mandates in db": imported == good,
            "history events": events == good,
            "re-import adds nothing": again.accepted == 0 and again.skipped == good
            and len(again.rejected) == len(bad_lines),
        }
        print(f"accepted {report.accepted:,}, skipped {report.skipped:,}, "
              f"rejected {len(report.rejected):,}")
        print(f"import:    {seconds:.2f} s = {options.rows / seconds:,.0f} rows/s "
              f"(batch {options.batch_size})")
        print(f"re-import: {again_seconds:.2f} s = {options.rows / again_seconds:,.0f} rows/s "
              f"(all skipped)")
        print(f"ru_maxrss after both imports: {rss_mb:.0f} MB")
        if not options.no_tracemalloc:
            (folder / "traced").mkdir()
            _, _, traced_seconds, _, peak, _, _ = timed_import(
                folder / "traced", csv_file, options.batch_size, trace=True)
            print(f"tracemalloc peak during import: {peak / 1e6:.1f} MB "
                  f"(traced run {traced_seconds:.1f} s)")
        for name, ok in checks.items():
            print(f"check {name}: {'OK' if ok else 'FAILED'}")
        return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
