"""The broker's tables (typed SQLAlchemy declarative models on :class:`Base`) and its
transactions.

Only the models live here; behaviour lives in the modules that own each concept. Nothing here
needs Flask: the web layer binds :class:`Base`'s metadata to its app in
:mod:`broker.web.database`, and the core works on any :class:`~sqlalchemy.orm.Session`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column

from broker.clock import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base of every table of the broker; its metadata names constraints and
    indexes by :data:`NAMING_CONVENTION`, so that migrations can refer to them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:
        #: every model of the broker maps one table (SQLAlchemy types it as any FromClause)
        __table__: ClassVar[Table]


@event.listens_for(Engine, "connect")
def _sqlite_write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    """The embedded SQLite: readers do not block the writer (the demo serves pages while the
    CLI registers clients or imports), and commits cost one sync of the log, not of the file.
    WAL with synchronous=NORMAL keeps the database consistent after a crash; the last commits
    before a power loss may be lost, as with any write-back cache."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy spelling of a DATABASE_URL: ``postgresql://`` (and Heroku's
    ``postgres://``) means PostgreSQL through psycopg 3, the driver the broker installs."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def is_embedded(url: str) -> bool:
    """The embedded default: a SQLite file, which needs no operator and upgrades itself."""
    return url.startswith("sqlite")


#: ``session.info`` key: how many :func:`one_transaction` blocks are open on the session
_HELD = "broker.one_transaction"


@contextmanager
def one_transaction(session: Session) -> Iterator[None]:
    """Everything the block writes through ``session`` commits at its end, together, or not at
    all: the register, the accounts and the SQL state store call :func:`commit`, which inside
    the block leaves the commit to it. A step of a login or a form that must have one effect
    (a mandate and the form's submission mark; a completed login, its audit entry and its
    code) runs in one. An exception rolls everything back."""
    session.info[_HELD] = session.info.get(_HELD, 0) + 1
    try:
        yield
    except BaseException:
        session.info[_HELD] -= 1
        session.rollback()
        raise
    session.info[_HELD] -= 1
    commit(session)


def commit(session: Session) -> None:
    """Commit ``session``; inside a :func:`one_transaction` block only flush it, so that what
    would fail the commit (a row changed meanwhile, a duplicate key) fails here already."""
    if session.info.get(_HELD):
        session.flush()
    else:
        session.commit()


class EphemeralState(Base):
    """Short-lived, single-use state: flows, codes, request ids, replay marks."""

    __tablename__ = "ephemeral_state"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class StateCounter(Base):
    """A short-lived counter: attempts per address in a time window."""

    __tablename__ = "state_counter"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ServiceRecord(Base):
    """A service of the catalogue (see :mod:`broker.services`)."""

    __tablename__ = "service"
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    via: Mapped[str] = mapped_column(String(20))
    min_loa: Mapped[str] = mapped_column(String(20))
    accepts: Mapped[list[str]] = mapped_column(JSON, default=list)
    allows_self: Mapped[bool] = mapped_column(Boolean, default=True)


class OidcClient(Base):
    """A relying party registered for the OIDC frontend."""

    __tablename__ = "oidc_client"
    client_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: what people see ("you are logging in to ..."); the client id when not given
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    claims_profile: Mapped[str] = mapped_column(String(20), default="nlgov")
    may_receive_bsn: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ServiceProvider(Base):
    """A SAML service provider registered by its metadata for the SAML IdP frontend."""

    __tablename__ = "service_provider"
    entity_id: Mapped[str] = mapped_column(String(500), primary_key=True)
    metadata_xml: Mapped[str] = mapped_column(Text)
    default_service: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: AttributeConsumingServiceIndex (as a string) -> ServiceUUID
    services_by_index: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MockAccount(Base):
    """An account at a mock identity provider (demo only)."""

    __tablename__ = "mock_account"
    idp: Mapped[str] = mapped_column(String(40), primary_key=True)
    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    identifier: Mapped[str] = mapped_column(String(200))  #: BSN (DigiD) or pseudonym (eHerkenning)
    level: Mapped[str] = mapped_column(String(20))  #: normalised level of the account
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
