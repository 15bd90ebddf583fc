"""The database and the state store the tests run on.

By default every test gets a fresh embedded SQLite (a copy of one database the migrations made
once) and keeps its short-lived state there. With ``DATABASE_URL=postgresql://...`` the tests
run on PostgreSQL, with ``REDIS_URL=redis://...`` on Redis; ``./run tests`` makes this second
pass itself when both services answer.

The tests never touch the database that DATABASE_URL names: they make their own on that server
(``broker_test_<pid>``), by the migrations, empty it before every test and drop it at the end.
In Redis, every test writes under a key prefix of its own, and the keys expire by themselves.

:func:`stored_state` and :func:`expire_state` look into the broker's short-lived state and let
it expire, the same way for the SQL state store and for Redis, so that a test asks the same
question in both passes; :func:`statements` records the SQL a block runs.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from flask import Flask
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.pool import NullPool

from broker import schema
from broker.clock import aware
from broker.clock import utcnow
from broker.db import EphemeralState
from broker.db import sqlalchemy_url
from broker.state import SqlStateStore
from broker.state_redis import RedisStateStore
from broker.web.database import db

#: where ``./run tests`` looks for the services when DATABASE_URL / REDIS_URL are not set
DEFAULT_POSTGRESQL = "postgresql://127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"


def probe() -> int:
    """For ``./run tests``: print the environment of the services pass (DATABASE_URL=...
    and REDIS_URL=... lines) and return 0 when both services answer; else say which does
    not, on stderr, and return 1."""
    import sys

    from sqlalchemy.exc import OperationalError

    database = os.environ.get("DATABASE_URL") or DEFAULT_POSTGRESQL
    cache = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    missing = []
    try:
        engine = create_engine(sqlalchemy_url(database), poolclass=NullPool,
                               connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except (OperationalError, ValueError) as exc:
        missing.append(f"PostgreSQL does not answer at {_safe(database)}: "
                       f"{str(getattr(exc, 'orig', exc)).strip()}")
    try:
        redis.Redis.from_url(cache, socket_connect_timeout=3).ping()
    except (redis.RedisError, ValueError) as exc:
        missing.append(f"Redis does not answer at {_safe(cache)}: {exc}")
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return 1
    print(f"DATABASE_URL={database}\nREDIS_URL={cache}")
    return 0


def _safe(url: str) -> str:
    """``url`` without its password, for a message."""
    return make_url(url).render_as_string(hide_password=True) if "://" in url else url


def postgresql_url() -> str | None:
    """DATABASE_URL, when it names a PostgreSQL server."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")) else None


def redis_url() -> str | None:
    return os.environ.get("REDIS_URL") or None


def migrate(url: str) -> None:
    """Create the broker's tables at ``url`` the way ``broker db upgrade`` does."""
    app = Flask("broker-test-schema")
    app.config["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(url)
    db.init_app(app)
    schema.init_app(app)
    with app.app_context():
        schema.upgrade()
        db.engine.dispose()


def migrated_sqlite(folder: Path) -> Path:
    """An empty broker database made by the migrations, to copy for every test."""
    path = folder / "broker.db"
    migrate(f"sqlite:///{path}")
    return path


def copy_sqlite(template: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)


@dataclass
class TestDatabase:
    """A PostgreSQL database of this test run: made and migrated once, emptied per test."""

    url: str
    engine: Engine
    tables: tuple[str, ...]

    def empty(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(text(f"TRUNCATE {', '.join(self.tables)} RESTART IDENTITY CASCADE"))


def test_database(server_url: str) -> Iterator[TestDatabase]:
    """Make ``broker_test_<pid>`` on the server of ``server_url``, migrate it, drop it after."""
    with empty_database(server_url, f"broker_test_{os.getpid()}") as url:
        migrate(url)
        engine = create_engine(url, poolclass=NullPool)
        tables = tuple(f'"{table.name}"' for table in schema.metadata().sorted_tables)
        try:
            yield TestDatabase(url=url, engine=engine, tables=tables)
        finally:
            engine.dispose()


@contextmanager
def empty_database(server_url: str, name: str | None = None) -> Iterator[str]:
    """The URL of a database without any table (``name``, else ``broker_test_<pid>_empty``)
    on the server of ``server_url``, made anew and dropped afterwards."""
    name = name or f"broker_test_{os.getpid()}_empty"
    server = make_url(sqlalchemy_url(server_url))
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT",
                          poolclass=NullPool)
    drop = text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    with admin.connect() as connection:
        connection.execute(drop)
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(drop)
        admin.dispose()


def redis_prefix() -> str:
    """A key prefix no other test uses."""
    return f"test-{secrets.token_hex(6)}:"


def execute_sql(url: str, statement: str) -> list[Any]:
    """Run one SQL statement on the database at ``url`` from outside the broker, as an
    attacker with database access or an operator's hand would; the rows it returns."""
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


@dataclass(frozen=True)
class StoredEntry:
    """One entry of the broker's short-lived state, as its store holds it."""

    value: str  #: the stored text (JSON)
    left: timedelta  #: until it expires; below zero when expired but not yet purged (SQL)


def stored_state(app: Flask, prefix: str = "") -> dict[str, StoredEntry]:
    """What the state store of the broker ``app`` holds under keys that start with ``prefix``,
    by key: the SQL store's rows (expired ones too, until purged), or the keys under the
    broker's Redis prefix (without it). A Redis key without expiry fails the test."""
    if isinstance(_state_store(app), RedisStateStore):
        with _redis(app) as (client, base):
            return _redis_entries(client, base, prefix)
    with app.app_context():
        now = utcnow()
        rows = db.session.execute(select(EphemeralState).where(
            EphemeralState.key.startswith(prefix, autoescape=True))).scalars()
        return {row.key: StoredEntry(row.value, aware(row.expires_at) - now) for row in rows}


def expire_state(app: Flask, prefix: str) -> None:
    """Let every entry under ``prefix`` in the state store of ``app`` expire now, as if its
    lifetime had passed: SQL rows get an expiry a second ago; Redis keys get one millisecond
    to live and are awaited until Redis itself has expired them. Fails when nothing is stored
    under ``prefix``, so that a test cannot pass by expiring nothing."""
    if isinstance(_state_store(app), RedisStateStore):
        with _redis(app) as (client, base):
            names = list(client.scan_iter(match=_glob(base + prefix) + "*"))
            for name in names:
                client.pexpire(name, 1)
            for name in names:
                _await_expiry(client, name)
        expired = len(names)
    else:
        with app.app_context():
            result = db.session.execute(update(EphemeralState).where(
                EphemeralState.key.startswith(prefix, autoescape=True),
            ).values(expires_at=utcnow() - timedelta(seconds=1)))
            db.session.commit()
            expired = int(result.rowcount)  # type: ignore[attr-defined]
    assert expired > 0, f"nothing stored under {prefix!r} to expire"


def _state_store(app: Flask) -> SqlStateStore | RedisStateStore:
    store = app.extensions["broker"].context.store
    if not isinstance(store, SqlStateStore | RedisStateStore):
        raise TypeError(f"no way to look into a {type(store).__name__}")
    return store


@contextmanager
def _redis(app: Flask) -> Iterator[tuple[redis.Redis, str]]:
    """A client of the broker's Redis server, and the broker's key prefix."""
    settings = app.extensions["broker"].context.settings
    client = redis.Redis.from_url(settings.redis_url)
    try:
        yield client, settings.redis_prefix
    finally:
        client.close()


def _redis_entries(client: redis.Redis, base: str, prefix: str) -> dict[str, StoredEntry]:
    entries = {}
    for name in client.scan_iter(match=_glob(base + prefix) + "*"):
        pipeline = client.pipeline()  # value and time to live at one moment
        pipeline.get(name)
        pipeline.pttl(name)
        value, left = pipeline.execute()
        if value is None:  # expired since the scan
            continue
        assert left >= 0, f"{name!r} has no expiry"
        entries[name.decode()[len(base):]] = StoredEntry(value.decode(),
                                                         timedelta(milliseconds=left))
    return entries


def _await_expiry(client: redis.Redis, name: bytes) -> None:
    """Until Redis has expired ``name`` (it does on the first access after its time)."""
    deadline = time.monotonic() + 30
    while client.exists(name):
        assert time.monotonic() < deadline, f"Redis did not expire {name!r}"
        time.sleep(0.001)


def _glob(text: str) -> str:
    """``text`` as a Redis SCAN pattern that matches only itself."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


if __name__ == "__main__":
    raise SystemExit(probe())


@contextmanager
def statements(engine: Engine | Connection, containing: str = "") -> Iterator[list[str]]:
    """The SQL statements run on ``engine`` inside the block (those ``containing`` a text)."""
    seen: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if containing in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
