"""Bulk import of company, chain and voluntary mandates (massaal machtigingen inlezen).

One file format in two spellings: CSV with a header row, or JSON Lines (one object per line),
with the fields of :data:`FIELDS`. In CSV ``services`` holds ServiceUUIDs separated by spaces;
in JSON Lines it is a list. ``loa``, ``branch`` and ``valid_until`` may be empty or absent.

Every row is validated on its own; a refused row is reported by line number with its reason and
never stops the others. Accepted rows are written in batches, each in one transaction, so an
interrupted import leaves every batch either whole or absent. Each mandate carries an
``import_key`` (sha256 of its normalised row): a row whose key is already in the register, or
earlier in the same batch, is skipped, so importing a file twice adds nothing.

The file is streamed, the catalogue is read once, and rows are inserted with Core executemany
(COPY on PostgreSQL). Chain rows obey the register's chain rules (no loop, at most
``chain_depth`` intermediaries), checked a batch of rows at a time against the chain mandates
in force around the batch's parties, read from the database, so memory stays flat in the
file's size: only refused rows are kept (for the report), and the accepted chain rows the
database does not show as in force (a dry run's, and those valid from a later date).
BENCHMARKS.md says what each of the speed measures bought.
"""

from __future__ import annotations

from broker.register.bulk_import.importer import BATCH_SIZE
from broker.register.bulk_import.importer import import_file
from broker.register.bulk_import.importer import import_rows
from broker.register.bulk_import.readers import FIELDS
from broker.register.bulk_import.readers import FORMATS
from broker.register.bulk_import.readers import REQUIRED
from broker.register.bulk_import.readers import Parsed
from broker.register.bulk_import.readers import format_for
from broker.register.bulk_import.readers import read_csv
from broker.register.bulk_import.readers import read_jsonl
from broker.register.bulk_import.report import ImportReport
from broker.register.bulk_import.report import Rejection
from broker.register.bulk_import.report import RowError

__all__ = ["BATCH_SIZE", "FIELDS", "FORMATS", "REQUIRED", "ImportReport", "Parsed", "Rejection",
           "RowError", "format_for", "import_file", "import_rows", "read_csv", "read_jsonl"]
