"""A fresh, migrated database for a benchmark: a SQLite file in a temporary folder, or a
PostgreSQL database that the benchmark creates and drops.

``--database-url postgresql://USER@HOST/NAME`` names a database that must not exist yet: it is
created (through the server's ``postgres`` database), upgraded by the broker's migrations, and
dropped again at the end unless the benchmark keeps it (``--keep``). ``reuse`` takes a database
kept by an earlier run as it is, and never drops it.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy
from flask import Flask
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broker import schema  # noqa: E402
from broker.db import sqlalchemy_url  # noqa: E402
from broker.web.database import db  # noqa: E402


@contextmanager
def fresh_database(url: str | None, *, keep: bool = False, reuse: bool = False) -> Iterator[str]:
    """The SQLAlchemy URL of an empty database (None: SQLite in a temporary folder), removed
    at the end unless ``keep``; with ``reuse`` an existing PostgreSQL database is taken as it
    is, and kept."""
    if url is None or url.startswith("sqlite"):
        with _sqlite(url, keep=keep) as sqlite_url:
            yield sqlite_url
        return
    target = make_url(sqlalchemy_url(url))
    name = target.database
    if not name or name in ("postgres", "template0", "template1", "test", "root"):
        raise SystemExit(f"--database-url must name a new database, not {name!r}")
    server = sqlalchemy.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        exists = _exists(server, name)
        if exists and not reuse:
            raise SystemExit(f"database {name} exists; drop it, choose another name or --reuse")
        if not exists:
            with server.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield target.render_as_string(hide_password=False)
        finally:
            if keep or exists:  # a database taken with ``reuse`` was not made here
                print(f"kept database {name}")
            else:
                with server.connect() as connection:
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                print(f"dropped database {name}")
    finally:
        server.dispose()


@contextmanager
def _sqlite(url: str | None, *, keep: bool) -> Iterator[str]:
    if url is not None:
        yield url
        return
    folder = tempfile.mkdtemp(prefix="broker-bench-")
    try:
        yield f"sqlite:///{folder}/broker.db"
    finally:
        if keep:
            print(f"kept {folder}/broker.db")
        else:
            for path in sorted(Path(folder).iterdir()):
                path.unlink()
            Path(folder).rmdir()


def _exists(server: sqlalchemy.Engine, name: str) -> bool:
    with server.connect() as connection:
        return connection.exec_driver_sql(
            "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": name}).first() is not None


def migrated_app(url: str, name: str = "broker-benchmark") -> Flask:
    """A Flask app with the broker's ``db`` on ``url``, its schema upgraded by the migrations
    (as ``broker db upgrade`` does). The engine options are the broker's own."""
    app = Flask(name)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(url)
    db.init_app(app)
    schema.init_app(app)
    with app.app_context():
        schema.upgrade()
    return app


def engine_options(url: str) -> dict[str, Any]:
    """What ``broker.app`` gives the engine."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 15, "check_same_thread": False}}
    return {"pool_pre_ping": True}


def versions(url: str) -> str:
    """Python, database server (of ``url``), SQLAlchemy and driver versions, for the results."""
    import sqlite3

    import psycopg

    target = make_url(sqlalchemy_url(url))
    if target.get_backend_name() == "postgresql":
        target = target.set(database="postgres")  # the benchmark's own may be dropped already
    engine = sqlalchemy.create_engine(target)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                server = "PostgreSQL " + str(connection.exec_driver_sql("SHOW server_version").scalar())
            else:
                server = f"SQLite {sqlite3.sqlite_version}"
    finally:
        engine.dispose()
    return (f"Python {sys.version.split()[0]}, {server}, SQLAlchemy {sqlalchemy.__version__}, "
            f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__}, libpq {psycopg.pq.version()})")
