"""Per-process copies of the federation's configuration: the service catalogue, the OIDC
clients and the SAML service providers.

Every login reads the catalogue and its relying party's registration in several of its HTTP
requests, and these change only when an administrator registers something. A
:class:`ConfigCache` keeps what it read for ``max_age`` seconds:

- a write through any SQLAlchemy session of this process (the flush of a service, client or
  service provider) makes every cache of the process read again at once;
- a write by another process (the CLI, another broker) is seen within ``max_age`` seconds;
- absence is never kept: a relying party registered a moment ago is found at once.

``max_age = 0`` turns caching off (:data:`UNCACHED`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

from broker.db import OidcClient
from broker.db import ServiceProvider
from broker.db import ServiceRecord

_T = TypeVar("_T")
_CONFIGURATION = (ServiceRecord, OidcClient, ServiceProvider)
_generation = 0  #: bumped whenever a session of this process writes configuration


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    read_at: float
    generation: int


class ConfigCache:
    """Values read from the database, by key, for at most ``max_age`` seconds."""

    def __init__(self, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_age = max_age
        self._clock = clock
        self._entries: dict[Hashable, _Entry] = {}

    def get(self, key: Hashable, read: Callable[[], _T | None]) -> _T | None:
        """The value under ``key``, from ``read()`` when there is no fresh copy.
        None from ``read`` is returned and not kept."""
        if self._max_age <= 0:
            return read()
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry.generation == _generation and (
                now - entry.read_at < self._max_age):
            return entry.value  # type: ignore[no-any-return]
        generation = _generation
        value = read()
        if value is None:
            self._entries.pop(key, None)
        else:
            self._entries[key] = _Entry(value, now, generation)
        return value


_WRITTEN = "broker.configuration_written"


#: reads every time: for callers that keep no copies
UNCACHED = ConfigCache(max_age=0)


@event.listens_for(Session, "after_flush")
def _configuration_flushed(session: Session, _context: Any) -> None:
    if any(isinstance(row, _CONFIGURATION) for row in (
            *session.new, *session.dirty, *session.deleted)):
        session.info[_WRITTEN] = True
        _forget_everything()


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _configuration_settled(session: Session) -> None:
    """Forget again when the write commits (or rolls back): a copy read between the flush and
    the commit still held the old rows."""
    if session.info.pop(_WRITTEN, False):
        _forget_everything()


def _forget_everything() -> None:
    global _generation
    _generation += 1
