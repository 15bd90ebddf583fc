"""The database schema and its version: Alembic migrations in ``broker/migrations``, run
through Flask-Migrate.

``broker db upgrade`` brings a database to the version this code needs. The embedded SQLite
default upgrades itself when the broker starts (the demo needs no step of its own); any other
database must be upgraded by the operator first, and a broker started against an older
schema refuses to run and says what to do. The tests create their schema by the same
migrations.
"""

from __future__ import annotations

from pathlib import Path

import flask_migrate
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import Migrate
from sqlalchemy import MetaData
from sqlalchemy import inspect

from broker.errors import ConfigError
from broker.web.database import db

MIGRATIONS = Path(__file__).with_name("migrations")
#: the revision that matches the tables ``db.create_all()`` made before there were migrations
FIRST_REVISION = "0001"


def metadata() -> MetaData:
    """Every table of the broker (importing each module that defines some)."""
    from broker import audit  # noqa: F401
    from broker import journal  # noqa: F401
    from broker import locks  # noqa: F401
    from broker import submissions  # noqa: F401
    from broker.accounts import models as account_models  # noqa: F401
    from broker.register import models as register_models  # noqa: F401

    return db.metadata


def init_app(app: Flask) -> None:
    """Register Flask-Migrate on ``app`` (which must already have ``db``)."""
    metadata()
    Migrate(app, db, directory=str(MIGRATIONS), render_as_batch=True, compare_type=True)


def head() -> str:
    """The revision this code needs."""
    revision = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return revision


def current() -> str | None:
    """The revision of the app's database; None for an empty database."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def unversioned() -> bool:
    """The database has the broker's tables but no recorded revision: it was made by
    ``db.create_all()`` before migrations existed."""
    return current() is None and _has_broker_tables()


def upgrade(revision: str = "head") -> None:
    """Bring the app's database to ``revision``. A database made by ``db.create_all()``
    before migrations existed is first recorded as :data:`FIRST_REVISION`."""
    if unversioned():
        flask_migrate.stamp(directory=str(MIGRATIONS), revision=FIRST_REVISION)
    flask_migrate.upgrade(directory=str(MIGRATIONS), revision=revision)


def ensure_current(*, upgrade_embedded: bool) -> None:
    """Check the app's database has the schema this code needs. With ``upgrade_embedded``
    (the embedded SQLite) bring it there; otherwise refuse with what to run."""
    found, needed = current(), head()
    if found == needed:
        return
    if upgrade_embedded:
        upgrade()
        return
    state = f"at revision {found}" if found else "empty (no broker tables)"
    raise ConfigError(f"database: the schema is {state}, this broker needs revision {needed}; "
                      "run `broker db upgrade` first")


def _has_broker_tables() -> bool:
    return inspect(db.engine).has_table("ephemeral_state")
