"""The login journal: every login a person has authenticated for, until the audit trail
records how it ended.

A flow lives in the state store (Redis, or a table) and may vanish with its process's work:
a worker killed while the person chooses on whose behalf to act, a browser closed. So when a
connector has verified the person upstream, :meth:`LoginJournal.opened` writes (and commits)
a row here *before* the flow moves on; the step that ends the login removes the row in the
transaction that writes its audit entry (``login.completed`` or ``login.failed``), which makes
that removal the login's one-time guard; and :meth:`LoginJournal.abandon_expired` turns the
rows of flows that expired unfinished into ``login.abandoned`` entries. So every login that
started at the broker ends in the audit trail exactly once.

Only a verified answer from an identity provider opens a row (a stranger cannot), and a row
lives no longer than its flow, so the table stays as small as the logins in progress.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy import String
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column

from broker import audit
from broker.clock import aware
from broker.db import Base
from broker.db import commit
from broker.identity import Identity

if TYPE_CHECKING:
    from broker.flow import Flow

#: rows turned into audit entries per transaction
ABANDON_BATCH = 500


class LoginInProgress(Base):
    """A login whose person has authenticated and whose end is not in the audit trail yet."""

    __tablename__ = "login_in_progress"
    flow: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor: Mapped[str] = mapped_column(String(300))  #: as audit entries name it, "bsn:…"
    requester: Mapped[str] = mapped_column(String(500))
    frontend: Mapped[str] = mapped_column(String(100))
    service: Mapped[str] = mapped_column(String(36))
    connector: Mapped[str] = mapped_column(String(100))
    authenticated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: when the flow expires unfinished; the row becomes ``login.abandoned`` after it
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


#: the statements are built once (per dialect): building one costs as much as running it
_CLOSE = delete(LoginInProgress).where(LoginInProgress.flow == bindparam("flow")).returning(
    LoginInProgress.flow)


@functools.cache
def _open(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = LoginInProgress.__table__.c
    return insert(LoginInProgress).values(
        {column: bindparam(column.name) for column in columns}).on_conflict_do_nothing(
        index_elements=["flow"])


class LoginJournal:
    def __init__(self, session: Callable[[], Session], clock: Callable[[], datetime]) -> None:
        self._session, self._clock = session, clock

    def opened(self, flow: Flow, identity: Identity, expires_at: datetime) -> None:
        """Record that ``identity`` authenticated for ``flow``, and commit: from now on the
        login ends in the audit trail, whatever happens to the flow. Opening it again (the
        same answer posted twice) changes nothing."""
        session = self._session()
        session.connection().execute(_open(session.get_bind().dialect.name), {
            "flow": flow.id, "actor": audit.party(identity.acting.id_type, identity.acting.id),
            "requester": flow.requester[:500], "frontend": flow.frontend,
            "service": flow.service, "connector": flow.connector or identity.connector,
            "authenticated_at": self._clock(), "expires_at": expires_at})
        commit(session)

    def closed(self, flow: Flow) -> bool:
        """Remove the flow's row in the caller's transaction; True when this call removed it
        (of two concurrent callers, one: the other waits for the first to commit, then finds
        nothing). The caller writes the login's audit entry in the same transaction."""
        session = self._session()
        return session.connection().execute(_CLOSE, {"flow": flow.id}).first() is not None

    def abandon_expired(self) -> int:
        """Record every login whose flow expired unfinished as ``login.abandoned``; how many.
        Several processes may run this at once: each row is removed, and recorded, once."""
        session, recorded = self._session(), 0
        while True:
            expired = select(LoginInProgress.flow).where(
                LoginInProgress.expires_at <= self._clock()).limit(ABANDON_BATCH)
            rows = session.execute(delete(LoginInProgress).where(
                LoginInProgress.flow.in_(expired)).returning(
                *LoginInProgress.__table__.c)).all()
            for row in rows:
                audit.record(session, actor=row.actor, action="login.abandoned",
                             subject=row.requester, detail={
                                 "relying_party": row.requester, "frontend": row.frontend,
                                 "service": row.service, "connector": row.connector,
                                 "authenticated_at": aware(row.authenticated_at).isoformat(),
                                 "flow": row.flow})
            commit(session)
            recorded += len(rows)
            if len(rows) < ABANDON_BATCH:
                return recorded
