"""Text for a person to read, in Dutch and in English. Nothing in this module imports Flask."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bilingual:
    """One message in both languages: the page shows the half the person reads, the log and
    the command line both halves, as "Dutch / English" (:meth:`__str__`). Either half may hold
    " / " itself: the halves are kept apart, never found again by splitting."""

    nl: str
    en: str

    def __str__(self) -> str:
        return f"{self.nl} / {self.en}"
