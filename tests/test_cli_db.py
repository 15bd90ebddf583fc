"""``broker db``: the schema made, adopted and checked by the migrations."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import text

from broker import schema
from broker.app import create_app
from broker.cli import main
from broker.config import Settings
from broker.errors import ConfigError
from broker.web.database import db
from tests import services


def _db(*args: str, instance: Path) -> Any:
    """``broker db ...`` on the instance's own SQLite (in either pass)."""
    return CliRunner().invoke(main, ["db", *args, "--instance", str(instance)],
                              env={"DATABASE_URL": None, "BROKER_DATABASE_URL": None},
                              catch_exceptions=False)


def test_upgrade_makes_the_schema_once_and_then_changes_nothing(tmp_path: Path) -> None:
    instance = tmp_path / "fresh"
    assert _db("current", instance=instance).exit_code == 1
    first = _db("upgrade", instance=instance)
    assert first.exit_code == 0 and f"from revision none to {schema.head()}" in first.output
    again = _db("upgrade", instance=instance)
    assert again.exit_code == 0 and f"already at revision {schema.head()}" in again.output
    shown = _db("current", instance=instance)
    assert shown.exit_code == 0 and shown.output.strip() == (
        f"database: {schema.head()}; this code needs: {schema.head()}")


def test_upgrade_adopts_a_database_made_before_migrations_and_keeps_its_rows(
        tmp_path: Path) -> None:
    instance = tmp_path / "old"
    instance.mkdir()
    url = f"sqlite:///{instance / 'broker.db'}"
    _first_schema_without_a_revision(url)
    services.execute_sql(url, "INSERT INTO service_provider (entity_id, metadata_xml, "
                              "services_by_index, created_at) VALUES "
                              "('https://sp.test', '<x/>', '{}', '2026-01-01')")
    assert "without a recorded revision" in _db("current", instance=instance).output
    adopted = _db("upgrade", instance=instance)
    assert adopted.exit_code == 0 and f"to {schema.head()}" in adopted.output
    rows = services.execute_sql(f"sqlite:///{instance / 'broker.db'}",
                                "SELECT entity_id FROM service_provider")
    assert rows == [("https://sp.test",)]


def _first_schema_without_a_revision(url: str) -> None:
    """The tables as ``db.create_all()`` made them before there were migrations: revision
    0001's, with no revision recorded."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db.init_app(app)
    schema.init_app(app)
    with app.app_context():
        schema.upgrade(schema.FIRST_REVISION)
        db.session.execute(text("DROP TABLE alembic_version"))
        db.session.commit()
        db.engine.dispose()


def test_the_migrations_make_exactly_the_tables_of_the_models(database_url: str) -> None:
    """A model changed without its migration (or the other way round) is found here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from broker.db import sqlalchemy_url

    engine = create_engine(sqlalchemy_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, schema.metadata()) == []
    finally:
        engine.dispose()


def test_upgrading_from_0001_keeps_every_mandate_at_its_first_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'broker.db'}"
    _first_schema_without_a_revision(url)
    services.execute_sql(url, "INSERT INTO mandate (id, kind, represented_type, represented_id, "
                              "representative_type, representative_id, services, valid_from, "
                              "state, created_at, extra) VALUES ('m-1', 'voluntary', 'bsn', "
                              "'999993653', 'bsn', '999990676', '[]', '2026-01-01', 'active', "
                              "'2026-01-01', '{}')")
    services.execute_sql(url, "INSERT INTO login_lock VALUES ('digid', 'jan', 5, NULL)")
    assert _db("upgrade", instance=tmp_path).exit_code == 0
    assert services.execute_sql(url, "SELECT id, version FROM mandate") == [("m-1", 1)]


def test_a_broker_on_an_empty_postgresql_database_refuses_and_says_what_to_run(
        settings: Settings, postgresql: services.TestDatabase | None) -> None:
    if postgresql is None:
        pytest.skip("needs DATABASE_URL (PostgreSQL): the embedded SQLite upgrades itself")
    refusal = r"schema is empty .* run `broker db upgrade`"
    with services.empty_database(postgresql.url) as url, pytest.raises(ConfigError, match=refusal):
        create_app(replace(settings, database_url=url))
