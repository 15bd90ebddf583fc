"""What a failure raised by a library the broker stands on means for the request.

A database or Redis server that does not answer is a :class:`ServiceUnavailableError` (try
again later); a value the database refuses or a request body the HTTP server cannot frame is
a :class:`MalformedInputError` (the sender's fault). Anything else is a bug and stays one.
Only class names reach a log: a driver's message can quote the values of a statement, and
those may be personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
import redis.exceptions
import sqlalchemy.exc
from gunicorn.http import errors as gunicorn_errors  # type: ignore[import-untyped]
from sqlalchemy.orm import Session

from broker.errors import DATABASE
from broker.errors import STATE
from broker.errors import BrokerError
from broker.errors import MalformedInputError
from broker.errors import ServiceUnavailableError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: the database does not answer (or has no connection to spare): down, restarting, cut off
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError, sqlalchemy.exc.TimeoutError,
    psycopg.OperationalError, psycopg.InterfaceError,
)
#: Redis does not answer, or answers that it cannot take writes now (a replica, loading)
STATE_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
)
#: the request's own bytes: a value the database cannot hold (NUL in text, a number out of
#: range, text too long for its column), or a body gunicorn cannot frame (bad chunk sizes)
UNREADABLE_INPUT: tuple[type[Exception], ...] = (
    sqlalchemy.exc.DataError, gunicorn_errors.ParseException, gunicorn_errors.NoMoreData,
)
#: every library failure :func:`as_broker_error` translates
TRANSLATED = DATABASE_UNAVAILABLE + STATE_UNAVAILABLE + UNREADABLE_INPUT


def as_broker_error(failure: BaseException) -> BrokerError | None:
    """The broker error that ``failure`` means, or None when it means none (a bug)."""
    name = type(failure).__name__
    if isinstance(failure, DATABASE_UNAVAILABLE):
        return ServiceUnavailableError(f"database unavailable ({name})", part=DATABASE)
    if isinstance(failure, STATE_UNAVAILABLE):
        return ServiceUnavailableError(f"state store unavailable ({name})", part=STATE)
    if isinstance(failure, UNREADABLE_INPUT):
        return MalformedInputError(f"unreadable input ({name})")
    return None


@contextmanager
def raised_as_broker_errors() -> Iterator[None]:
    """Inside the block, a translated library failure is raised as its broker error, for a
    caller that answers broker errors itself (the SAML frontend before a flow exists)."""
    try:
        yield
    except TRANSLATED as failure:
        error = as_broker_error(failure)
        assert error is not None
        raise error from None


def best_effort(step: Callable[[], T], what: str, *, needs: str, cause: BrokerError,
                session: Session) -> T | None:
    """Run ``step`` (recording an error, cleaning up after it) unless ``cause`` says the part
    it ``needs`` is down; its result, or None when it was skipped or failed. A part that fails
    meanwhile is logged and ``session`` rolled back, not raised: answering an error must never
    fail in turn."""
    if isinstance(cause, ServiceUnavailableError) and cause.part == needs:
        log.info("%s skipped: the %s is unavailable", what, needs)
        return None
    try:
        return step()
    except DATABASE_UNAVAILABLE + STATE_UNAVAILABLE as failure:
        log.warning("%s failed: %s", what, type(failure).__name__)
        roll_back(session)
        return None


def roll_back(session: Session) -> None:
    """End ``session``'s transaction, also one a failed statement left broken; with the
    database gone the connection is dropped instead (the pool replaces it when it is back)."""
    try:
        session.rollback()
    except DATABASE_UNAVAILABLE as failure:
        log.warning("rollback failed: %s", type(failure).__name__)
