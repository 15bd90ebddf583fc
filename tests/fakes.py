"""Test doubles shared across test folders: a settable clock."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime


class Clock:
    """A clock the test moves by hand (``clock.now += timedelta(...)``)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now
