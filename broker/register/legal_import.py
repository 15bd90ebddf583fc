"""Bulk recording of legal representation from a CSV file (one court decision per row).

Columns: ``represented_bsn, representative_bsn, role, services, court_reference, valid_until``
(``services``: ServiceUUIDs separated by spaces; ``valid_until``: YYYY-MM-DD or empty; ignored
for ouderlijk gezag, which ends on the child's 18th birthday). Every row is checked; the report
names each refused row by line number with its reason. A row recorded before (same parties,
role and court reference, still active) is skipped, so importing a file twice adds nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from typing import TextIO

from sqlalchemy import select

from broker.errors import InputError
from broker.register.models import ACTIVE
from broker.register.models import Mandate
from broker.register.service import Register
from broker.text import Bilingual

COLUMNS = ("represented_bsn", "representative_bsn", "role", "services", "court_reference",
           "valid_until")


@dataclass
class ImportReport:
    recorded: int = 0
    skipped: int = 0  #: already in the register
    refused: list[tuple[int, Bilingual]] = field(default_factory=list)  #: (line, reason)


def import_legal(register: Register, handle: TextIO, *, actor: str,
                 dry_run: bool = False) -> ImportReport:
    reader = csv.DictReader(handle)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"Kolommen ontbreken: {', '.join(missing)}.", "Missing columns: "
                         f"{', '.join(missing)}.")
    report = ImportReport()
    for line, row in _numbered(reader):
        try:
            _record(register, row, actor=actor, dry_run=dry_run, report=report)
        except InputError as error:
            register.rollback()
            report.refused.append((line, error.text))
    return report


def _numbered(reader: csv.DictReader[str]) -> Iterable[tuple[int, dict[str, str]]]:
    for row in reader:
        yield reader.line_num, {key: (value or "").strip() for key, value in row.items() if key}


def _record(register: Register, row: dict[str, str], *, actor: str, dry_run: bool,
            report: ImportReport) -> None:
    services = row["services"].split()
    valid_until = _date(row["valid_until"])
    if _already_recorded(register, row):
        report.skipped += 1
        return
    register.record_legal(
        represented_bsn=row["represented_bsn"], representative_bsn=row["representative_bsn"],
        role=row["role"], services=services, court_reference=row["court_reference"],
        actor=actor, valid_until=valid_until, commit=not dry_run)
    if dry_run:
        register.rollback()
    report.recorded += 1


def _already_recorded(register: Register, row: dict[str, str]) -> bool:
    found = register.session.execute(select(Mandate.id).where(
        Mandate.kind == "legal", Mandate.state == ACTIVE, Mandate.role == row["role"],
        Mandate.represented_id == row["represented_bsn"],
        Mandate.representative_id == row["representative_bsn"],
        Mandate.court_reference == row["court_reference"])).first()
    return found is not None


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InputError(f"Geen geldige datum: {value}.", f"Not a valid date: {value} "
                         "(use YYYY-MM-DD).") from None
    return datetime(day.year, day.month, day.day)
