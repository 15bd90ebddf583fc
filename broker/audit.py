"""The audit trail: an append-only, hash-chained log of who did what, for whom, and when.

Every login (and failed login), every "acting on behalf of" decision, every mandate change and
every administrator action becomes one :class:`AuditEntry`. Entries are numbered 1, 2, 3, …
(``seq``) and each carries the hash of the one before it (``prev_hash``; the first one 64
zeros) and its own ``hash``::

    hash = sha256(prev_hash + canonical JSON of {seq, at, actor, action, subject, detail})

(canonical: sorted keys, no spaces, UTF-8 as is; ``at`` as ISO 8601 UTC with microseconds).
A changed, removed, inserted or reordered entry therefore breaks the chain at that entry, and
:func:`verify` names the first broken one. The one-row ``audit_head`` table holds the last
entry's number and hash, so that cutting entries off the end is noticed too; an operator who
keeps a head hash somewhere else (``broker audit verify --head HASH``) can also notice a
rewrite of the whole trail.

:func:`record` adds an entry to the caller's session and the caller commits: the entry and the
change it describes are written together or not at all. Appenders are serialised by the head
row: :func:`record` first updates it, which takes the database's write lock (SQLite) or the
row's lock (PostgreSQL) until the caller's transaction ends, so two processes can never give
out the same number. Plain Python over SQLAlchemy; nothing here imports Flask.

The trail holds identifiers (BSNs, KvK numbers) by design; it is the place for them, the
ordinary application log is not.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import CheckConstraint
from sqlalchemy import Connection
from sqlalchemy import DateTime
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column

from broker.clock import aware
from broker.clock import utcnow
from broker.db import Base

#: prev_hash of the first entry
GENESIS = "0" * 64
#: entries read per query while verifying (memory stays flat in the trail's length)
VERIFY_CHUNK = 1000

#: Why :func:`verify` says the trail is broken; the first word is the kind of break.
CHANGED = "changed: the entry does not match its hash"
REMOVED = "removed: an entry before this one is missing"
INSERTED = "inserted: the entry does not fit the chain"
REORDERED = "reordered: the entry is out of sequence"
TAIL_REMOVED = "head mismatch: the trail ends before the head (entries cut off the end)"
AFTER_HEAD = "inserted: the entry comes after the head"
HEAD_MISMATCH = "head mismatch: the head's hash is not the last entry's"
HEAD_MISSING = "head mismatch: the head row is missing"
ANCHOR_MISSING = "head mismatch: the given head hash is not in the trail"

_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+\Z")
_HASH = re.compile(r"^[0-9a-f]{64}\Z")


class AuditEntry(Base):
    """One entry of the trail; rows are only ever added."""

    __tablename__ = "audit_entry"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: "bsn:…", "pseudonym:…", "eh:<pseudonym>", "admin:<username>", "cli:<user>", "system"
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(80), index=True)  #: dotted, "login.completed"
    subject: Mapped[str | None] = mapped_column(String(500), nullable=True, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    def line(self) -> str:
        """One line for a terminal: seq, time, actor, action, subject, detail."""
        detail = _canonical(self.detail) if self.detail else ""
        return (f"{self.seq:>6} {_iso(self.at)} {self.actor} {self.action}"
                f"{' ' + self.subject if self.subject else ''}{' ' + detail if detail else ''}")


class AuditHead(Base):
    """The number and hash of the last entry; its one row also serialises appenders."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)


_ENTRY: Table = AuditEntry.__table__
_HEAD: Table = AuditHead.__table__


@event.listens_for(_HEAD, "after_create")
def _genesis(_target: Table, connection: Connection, **_kw: Any) -> None:
    """Every new trail starts with a head at entry 0 and the genesis hash."""
    connection.execute(insert(_HEAD).values(id=1, seq=0, hash=GENESIS))


class AuditError(RuntimeError):
    """The trail cannot be appended to (its head row is gone while entries exist)."""


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of :func:`verify`.

    ``checked``: entries found intact (all of them when ``ok``); ``first_broken``: the number
    of the first broken (or missing) entry, None when ``ok`` or when no entry can be named;
    ``reason``: one of the module's reason phrases; ``head``: the hash of the last intact entry
    (the trail's head when ``ok``; the genesis hash for an empty trail).
    """

    ok: bool
    checked: int
    first_broken: int | None
    reason: str | None
    head: str


def record(session: Session, *, actor: str, action: str, subject: str | None = None,
           detail: Mapping[str, Any] | None = None, at: datetime | None = None) -> AuditEntry:
    """Append an entry to the caller's session (the caller commits, or rolls back both).

    ``actor``: who did it ("bsn:…", "admin:…", "system", …); ``action``: dotted and lower case
    ("mandate.revoked"); ``subject``: what it was done to (a mandate id, a client id);
    ``detail``: JSON-serialisable facts (tuples become lists; no NaN); ``at``: when,
    timezone-aware (default now). Takes the trail's lock until the caller's transaction ends.
    """
    if not actor or len(actor) > 300:
        raise ValueError("audit actor must be 1 to 300 characters")
    if not _ACTION.match(action) or len(action) > 80:
        raise ValueError(f"audit action must be dotted lower case: {action!r}")
    if subject is not None and len(subject) > 500:
        raise ValueError("audit subject must be at most 500 characters")
    moment = _utc(at if at is not None else utcnow())
    # as it will read back from the column: lists for tuples, text keys
    body = json.loads(json.dumps(dict(detail or {}), ensure_ascii=False, allow_nan=False))
    seq, prev_hash = _take_head(session)
    entry = AuditEntry(seq=seq + 1, at=moment, actor=actor, action=action, subject=subject,
                       detail=body, prev_hash=prev_hash)
    entry.hash = entry_hash(prev_hash, seq=entry.seq, at=moment, actor=actor, action=action,
                            subject=subject, detail=body)
    session.execute(update(_HEAD).where(_HEAD.c.id == 1).values(seq=entry.seq, hash=entry.hash))
    session.add(entry)
    return entry


def verify(session: Session, *, head: str | None = None) -> Verification:
    """Walk the whole trail in order and name the first broken entry.

    ``head``: a hash kept elsewhere earlier (e.g. printed by a previous verify); it must be
    the hash of some entry of the trail, or the trail was rewritten or cut before it.
    Entries appended while the walk runs are walked too.
    """
    if head is not None:
        head = head.strip().lower()
    walk = _Walk(anchor=head)
    while True:
        broken = walk.run(session)
        if broken is not None:
            return broken
        current = session.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).first()
        if current is None:
            if walk.seq == 0:  # a trail never written to (its table made without the event)
                break
            return walk.broken(None, HEAD_MISSING)
        if current.seq > walk.seq:
            if _exists_after(session, walk.seq):
                continue  # appended meanwhile: walk on
            return walk.broken(walk.seq + 1, TAIL_REMOVED)
        if current.seq < walk.seq:
            return walk.beyond_head(current.seq, current.hash)
        if current.hash != walk.prev:
            return walk.broken(walk.seq or None, HEAD_MISMATCH)
        break
    if walk.anchor is not None and not walk.anchored:
        return walk.broken(None, ANCHOR_MISSING)
    return Verification(ok=True, checked=walk.checked, first_broken=None, reason=None,
                        head=walk.prev)


def recent(session: Session, limit: int = 50) -> list[AuditEntry]:
    """The last ``limit`` entries, newest first."""
    return list(session.execute(
        select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)).scalars())


def entry_hash(prev_hash: str, *, seq: int, at: datetime, actor: str, action: str,
               subject: str | None, detail: Mapping[str, Any]) -> str:
    """The hash an entry with these fields must carry after ``prev_hash``."""
    body = _canonical({"seq": seq, "at": _iso(at), "actor": actor, "action": action,
                       "subject": subject, "detail": detail})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def party(party_type: str, party_id: str) -> str:
    """The trail's spelling of a party: "type:id" ("bsn:999993653", "kvk:10000001")."""
    return f"{party_type}:{party_id}"


# -- internals -------------------------------------------------------------------------------


def _take_head(session: Session) -> tuple[int, str]:
    """Lock the head row (an UPDATE, held until the caller's transaction ends) and read it,
    in one statement."""
    row = session.connection().execute(_LOCK_AND_READ_HEAD).first()
    if row is None:
        _start_head(session)
        row = session.connection().execute(_LOCK_AND_READ_HEAD).one()
    return int(row.seq), str(row.hash)


#: the head row locked by a no-op UPDATE that returns it (SQLite 3.35+ and PostgreSQL)
_LOCK_AND_READ_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq).returning(
    _HEAD.c.seq, _HEAD.c.hash)


def _start_head(session: Session) -> None:
    """Start the head of an empty trail (the migrations leave the table empty), unless
    another first appender has just made it: on PostgreSQL an UPDATE of no row locks
    nothing, so two first appenders both get here, and the second waits on the key until the
    first commits, then locks the head with the caller's next UPDATE. Only with the key held
    is "no head, but entries" the trail's fault."""
    try:
        with session.begin_nested():
            session.execute(insert(_HEAD).values(id=1, seq=0, hash=GENESIS))
            if session.execute(select(_ENTRY.c.seq).limit(1)).first() is not None:
                raise AuditError("audit_head is missing while the trail has entries; "
                                 "run `broker audit verify`")
    except IntegrityError:
        pass  # another appender made it; the caller's UPDATE waits for its lock


class _Walk:
    """The state of one verification: how far, the last good hash, whether the anchor was seen."""

    def __init__(self, anchor: str | None) -> None:
        self.seq = 0  #: last intact entry's number
        self.prev = GENESIS  #: last intact entry's hash
        self.checked = 0
        self.anchor = anchor
        self.anchored = anchor == GENESIS

    def run(self, session: Session) -> Verification | None:
        """Walk the entries after :attr:`seq`; the first break, or None at the end."""
        while True:
            query = select(_ENTRY.c.seq, _ENTRY.c.at, _ENTRY.c.actor, _ENTRY.c.action,
                           _ENTRY.c.subject, _ENTRY.c.detail, _ENTRY.c.prev_hash,
                           _ENTRY.c.hash).order_by(_ENTRY.c.seq).limit(VERIFY_CHUNK)
            if self.checked:  # keyset paging; the first page also shows numbers below 1
                query = query.where(_ENTRY.c.seq > self.seq)
            rows = session.execute(query).all()  # plain rows: nothing stays in the session
            if not rows:
                return None
            for row in rows:
                broken = self._check(session, row)
                if broken is not None:
                    return broken

    def _check(self, session: Session, row: Any) -> Verification | None:
        expected = self.seq + 1
        if row.seq < expected:  # numbers before the first (0, negative): never given out
            return self.broken(row.seq, INSERTED)
        if row.seq > expected:
            # A gap: the entries in between are gone, unless this one links straight to the
            # last intact entry (then it was numbered to fit somewhere it does not belong).
            return self.broken(row.seq if row.prev_hash == self.prev else expected,
                               INSERTED if row.prev_hash == self.prev else REMOVED)
        if row.prev_hash != self.prev:
            return self._misfit(session, row)
        recomputed = entry_hash(row.prev_hash, seq=row.seq, at=row.at, actor=row.actor,
                                action=row.action, subject=row.subject, detail=row.detail or {})
        if recomputed != row.hash:
            return self.broken(row.seq, CHANGED)
        self.seq, self.prev = row.seq, row.hash
        self.checked += 1
        if row.hash == self.anchor:
            self.anchored = True
        return None

    def _misfit(self, session: Session, row: Any) -> Verification:
        """The entry is numbered right but links to another predecessor: which one says why."""
        predecessor = session.execute(
            select(_ENTRY.c.seq).where(_ENTRY.c.hash == row.prev_hash).limit(1)).first()
        if predecessor is None:  # what it followed is gone: an entry before it was removed
            return self.broken(row.seq, REMOVED)
        if predecessor.seq < row.seq - 1:
            # it follows an earlier entry: the ones in between were slipped in
            return self.broken(predecessor.seq + 1, INSERTED)
        return self.broken(row.seq, REORDERED)

    def broken(self, seq: int | None, reason: str) -> Verification:
        return Verification(ok=False, checked=self.checked, first_broken=seq, reason=reason,
                            head=self.prev)

    def beyond_head(self, head_seq: int, head_hash: str) -> Verification:
        """Intact entries after the head's: the first of them was appended behind its back."""
        return Verification(ok=False, checked=head_seq, first_broken=head_seq + 1,
                            reason=AFTER_HEAD, head=head_hash)


def _exists_after(session: Session, seq: int) -> bool:
    return session.execute(select(_ENTRY.c.seq).where(_ENTRY.c.seq > seq).limit(1)).first() \
        is not None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("audit time must be timezone-aware")
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds, the same for a value as given and as read back
    (SQLite returns naive UTC datetimes, PostgreSQL aware ones in the session's zone)."""
    return aware(moment).astimezone(UTC).isoformat(timespec="microseconds")


def is_hash(value: str) -> bool:
    """True for 64 lower-case hex digits."""
    return bool(_HASH.match(value))
