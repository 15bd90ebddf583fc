"""What an import reports: rows accepted, skipped and rejected (each rejection by line, in
Dutch and English), and the error that refuses one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from broker.errors import InputError
from broker.text import Bilingual


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    why: Bilingual

    @property
    def reason(self) -> str:
        """English."""
        return self.why.en

    @property
    def reason_nl(self) -> str:
        return self.why.nl


@dataclass
class ImportReport:
    accepted: int = 0  #: written (or, in a dry run, that would be written)
    skipped: int = 0  #: already in the register, or a repeat of an earlier row of the file
    rejected: list[Rejection] = field(default_factory=list)
    dry_run: bool = False

    @property
    def rows(self) -> int:
        return self.accepted + self.skipped + len(self.rejected)


class RowError(InputError):
    """One row is refused, the others not; ``nl`` and ``en`` say why."""
