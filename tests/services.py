"""The database and the state store the tests run on.

By default every test gets a fresh embedded SQLite (a copy of one database the migrations made
once) and keeps its short-lived state there. With ``DATABASE_URL=postgresql://...`` the tests
run on PostgreSQL, with ``REDIS_URL=redis://...`` on Redis; ``./run tests`` makes this second
pass itself when both services answer.

The tests never touch the database that DATABASE_URL names: they make their own on that server
(``broker_test_<pid>``), by the migrations, empty it before every test and drop it at the end.
In Redis, every test writes under a key prefix of its own, and the keys expire by themselves.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from broker import schema
from broker.db import db
from broker.db import sqlalchemy_url


#: where ``./run tests`` looks for the services when DATABASE_URL / REDIS_URL are not set
DEFAULT_POSTGRESQL = "postgresql://127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"


def probe() -> int:
    """For ``./run tests``: print the environment of the services pass (DATABASE_URL=...
    and REDIS_URL=... lines) and return 0 when both services answer; else say which does
    not, on stderr, and return 1."""
    import sys

    import redis
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
    name = f"broker_test_{os.getpid()}"
    server = make_url(sqlalchemy_url(server_url))
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT",
                          poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    migrate(url)
    engine = create_engine(url, poolclass=NullPool)
    tables = tuple(f'"{table.name}"' for table in schema.metadata().sorted_tables)
    try:
        yield TestDatabase(url=url, engine=engine, tables=tables)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
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


if __name__ == "__main__":
    raise SystemExit(probe())
