"""What no request does by itself: end the logins whose flows expired unfinished, and let go
of what expired.

- logins authenticated but never completed or refused become ``login.abandoned`` entries in
  the audit trail (:meth:`broker.journal.LoginJournal.abandon_expired`);
- the SQL state store's expired rows are deleted (Redis expires its keys itself);
- form submission marks older than a day are deleted (:mod:`broker.submissions`).

:func:`sweep` does it once; every broker process runs it now and then after answering a
request (:class:`Schedule`), and ``broker housekeeping`` runs it from cron. Several processes
may sweep at the same moment: each step removes what it handles in one statement, so nothing
is recorded twice. Plain Python; nothing here imports Flask.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from broker import submissions
from broker.journal import LoginJournal
from broker.state import SqlStateStore
from broker.state import StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Swept:
    abandoned: int  #: logins recorded as abandoned
    expired_state: int  #: rows of the SQL state store deleted (0 with Redis)
    submissions: int  #: form submission marks deleted


def sweep(session: Callable[[], Session], store: StateStore,
          clock: Callable[[], datetime]) -> Swept:
    abandoned = LoginJournal(session, clock).abandon_expired()
    expired = store.purge_expired() if isinstance(store, SqlStateStore) else 0
    marks = submissions.purge_expired(session(), clock())
    return Swept(abandoned=abandoned, expired_state=expired, submissions=marks)


class Schedule:
    """Runs ``work`` at most once per ``interval`` seconds in this process, the first time
    ``interval`` seconds after it was made, never in two threads at once. ``interval`` 0:
    never (``broker housekeeping`` from cron does the work)."""

    def __init__(self, interval: int, work: Callable[[], object],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._interval, self._work, self._clock = interval, work, clock
        self._next = clock() + interval
        self._running = threading.Lock()

    def due(self) -> bool:
        return self._interval > 0 and self._clock() >= self._next

    def run_if_due(self) -> None:
        """Run the work when it is due. A failure is logged (its kind only) and tried again
        at the next interval; it never reaches the request that happened to trigger it."""
        if not self.due() or not self._running.acquire(blocking=False):
            return
        try:
            self._next = self._clock() + self._interval
            self._work()
        except Exception as exc:  # noqa: BLE001  (logged; housekeeping must not break serving)
            log.warning("housekeeping failed: %s", type(exc).__name__)
        finally:
            self._running.release()
