"""Forms that create something are safe to send twice: each carries a one-time submission
token, and the change it makes is committed together with the token's mark.

A form page gets a fresh token (:func:`new_token`) in a hidden field. The view that handles the
POST opens a :func:`broker.db.one_transaction`, calls :func:`claim` first and :func:`done`
after its change: the mark (a row keyed by the token) and the change commit together, or
neither does. A second POST of the same form (a reload, a double click, the way back) finds
the mark and is sent to what the first one made; two POSTs at the same moment are ordered by
the mark's primary key (PostgreSQL makes the second wait until the first commits or rolls
back; SQLite writes one at a time). A refusal rolls the mark back with everything else, so
the corrected form can be sent with the same token.

Marks are kept for :data:`KEEP_SECONDS` (:func:`purge_expired`); only logged-in people post
these forms, and the store holds digests of the token and of its owner, nothing else.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from datetime import timedelta

from sqlalchemy import DateTime
from sqlalchemy import String
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column

from broker.db import Base
from broker.db import commit

KEEP_SECONDS = 86400
FIELD = "submission"  #: the hidden field's name


class FormSubmission(Base):
    """A form that was sent, and where its outcome is shown."""

    __tablename__ = "form_submission"
    token: Mapped[str] = mapped_column(String(64), primary_key=True)  #: digest of token+owner
    result: Mapped[str | None] = mapped_column(String(500), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def claim(session: Session, token: str, owner: str, now: datetime) -> str | None:
    """Mark the form with ``token``, sent by ``owner``, as sent (in the caller's transaction).
    None: this is its first sending, go ahead; else it was sent before, and this is where its
    outcome is shown (or "" when the earlier sending showed nothing to return to)."""
    key = _key(token, owner)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert
    first = session.execute(insert(FormSubmission).values(token=key, at=now)
                            .on_conflict_do_nothing(index_elements=["token"])
                            .returning(FormSubmission.token)).first()
    if first is not None:
        return None
    earlier = session.execute(select(FormSubmission.result).where(
        FormSubmission.token == key)).scalar_one_or_none()
    return earlier or ""


def done(session: Session, token: str, owner: str, result: str) -> None:
    """Where the outcome of the claimed form is shown to a second sending (a path)."""
    session.execute(update(FormSubmission).where(FormSubmission.token == _key(token, owner))
                    .values(result=result[:500]))


def purge_expired(session: Session, now: datetime) -> int:
    result = session.execute(delete(FormSubmission).where(
        FormSubmission.at <= now - timedelta(seconds=KEEP_SECONDS)))
    commit(session)
    return int(result.rowcount)  # type: ignore[attr-defined]


def _key(token: str, owner: str) -> str:
    return hashlib.sha256(f"{owner}\0{token}".encode()).hexdigest()
