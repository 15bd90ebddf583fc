"""Test doubles shared across test folders: a settable clock and extra entry points."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from broker import registry


class Clock:
    """A clock the test moves by hand (``clock.now += timedelta(...)``)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def install_component(monkeypatch: pytest.MonkeyPatch, group: str, name: str,
                      factory: Callable[..., Any]) -> None:
    """Make ``factory`` loadable as entry point ``name`` of ``group`` for this test."""
    real = registry.available

    def available(wanted: str) -> dict[str, Callable[..., Any]]:
        found = real(wanted)
        if wanted == group:
            found[name] = lambda: factory
        return found

    monkeypatch.setattr(registry, "available", available)
