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
from broker.db import db
from broker.errors import ConfigError
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
    assert first.exit_code == 0 and "from revision none to 0001" in first.output
    again = _db("upgrade", instance=instance)
    assert again.exit_code == 0 and "already at revision 0001" in again.output
    shown = _db("current", instance=instance)
    assert shown.exit_code == 0 and shown.output.strip() == (
        f"database: 0001; this code needs: {schema.head()}")


def test_upgrade_adopts_a_database_made_before_migrations_and_keeps_its_rows(
        tmp_path: Path) -> None:
    instance = tmp_path / "old"
    instance.mkdir()
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'broker.db'}"
    db.init_app(app)
    with app.app_context():
        schema.metadata().create_all(db.engine)
        db.session.execute(text("INSERT INTO service_provider (entity_id, metadata_xml, "
                                   "services_by_index, created_at) VALUES "
                                   "('https://sp.test', '<x/>', '{}', '2026-01-01')"))
        db.session.commit()
    assert "without a recorded revision" in _db("current", instance=instance).output
    adopted = _db("upgrade", instance=instance)
    assert adopted.exit_code == 0 and "to 0001" in adopted.output
    rows = services.execute_sql(f"sqlite:///{instance / 'broker.db'}",
                                "SELECT entity_id FROM service_provider")
    assert rows == [("https://sp.test",)]


def test_a_broker_on_an_empty_postgresql_database_refuses_and_says_what_to_run(
        settings: Settings, postgresql: services.TestDatabase | None) -> None:
    if postgresql is None:
        pytest.skip("needs DATABASE_URL (PostgreSQL): the embedded SQLite upgrades itself")
    refusal = r"schema is empty .* run `broker db upgrade`"
    with services.empty_database(postgresql.url) as url, pytest.raises(ConfigError, match=refusal):
        create_app(replace(settings, database_url=url))
