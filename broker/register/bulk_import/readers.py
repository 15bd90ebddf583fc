"""The two spellings of the import file: CSV with a header row, and JSON Lines. Each reader
yields (line number, fields) per row, or a :class:`RowError` for a row it cannot read.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from typing import TextIO

from broker.errors import InputError
from broker.register.bulk_import.report import RowError

FIELDS = ("kind", "represented_type", "represented", "representative_type", "representative",
          "services", "loa", "branch", "valid_from", "valid_until")


REQUIRED = ("kind", "represented_type", "represented", "representative_type", "representative",
            "services", "valid_from")


FORMATS = ("csv", "jsonl")


Parsed = tuple[int, dict[str, Any] | RowError]


def format_for(path: Path, given: str | None = None) -> str:
    """The format named, or the one the extension implies (.csv, .jsonl / .ndjson)."""
    if given:
        if given not in FORMATS:
            raise InputError(f"Onbekend formaat: {given}.", f"Unknown format: {given}.")
        return given
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise InputError(f"Formaat onbekend voor {path.name}; gebruik --format csv of jsonl.",
                     f"Cannot tell the format of {path.name}; use --format csv or jsonl.")


def read_csv(handle: TextIO) -> Iterator[Parsed]:
    """(line number, fields) per data row; a bad header is an InputError before any row."""
    reader = csv.reader(handle)
    try:
        header = [name.strip() for name in next(reader, [])]
        _check_header(header)
        width = len(header)
        for values in reader:
            if not values:
                continue
            if len(values) != width:
                yield reader.line_num, RowError(
                    f"{len(values)} velden in plaats van {width}",
                    f"{len(values)} fields instead of {width}")
                continue
            yield reader.line_num, dict(zip(header, values, strict=True))
    except csv.Error as exc:  # e.g. a field beyond the csv module's limit: the rest is unreadable
        raise InputError(f"Regel {reader.line_num} is geen geldige CSV ({exc}); de rest van het "
                         "bestand is niet gelezen.", f"Line {reader.line_num} is not valid CSV "
                         f"({exc}); the rest of the file was not read.") from None


def read_jsonl(handle: TextIO) -> Iterator[Parsed]:
    """(line number, fields) per non-empty line; a line that is not a JSON object is refused."""
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
            yield line, RowError("geen geldige JSON", "not valid JSON")
            continue
        if not isinstance(value, dict):
            yield line, RowError("geen JSON-object", "not a JSON object")
            continue
        unknown = [name for name in value if name not in FIELDS]
        if unknown:
            yield line, RowError(f"onbekend veld {unknown[0][:40]}",
                                 f"unknown field {unknown[0][:40]}")
            continue
        yield line, value


def _check_header(header: list[str]) -> None:
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in FIELDS]
    if missing or unknown or len(set(header)) != len(header):
        problems = ", ".join([*(f"missing {n}" for n in missing),
                              *(f"unknown {n}" for n in unknown)]) or "a column twice"
        raise InputError(f"De kopregel klopt niet ({problems}); verwacht: {', '.join(FIELDS)}.",
                         f"The header row is wrong ({problems}); expected: {', '.join(FIELDS)}.")
