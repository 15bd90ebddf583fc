"""The database schema: ``broker db upgrade`` and ``broker db current``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from broker.cli.common import config_option
from broker.cli.common import database_context
from broker.cli.common import fail
from broker.cli.common import instance_option
from broker.cli.common import settings_of


@click.group("db")
def database() -> None:
    """The database schema: migrations (Alembic, through Flask-Migrate)."""


@database.command("upgrade")
@click.option("--revision", default="head", show_default=True,
              help="The revision to go to; the default is the one this code needs.")
@instance_option
@config_option
def db_upgrade(revision: str, instance: Path, config: Path | None) -> None:
    """Bring the database (DATABASE_URL, or the instance's SQLite) to this code's schema.

    Run it before starting a new version of the broker; it is safe to run again."""
    from sqlalchemy.exc import SQLAlchemyError

    from broker import schema

    settings = settings_of(config, instance)
    with database_context(settings):
        before = schema.current()
        try:
            schema.upgrade(revision)
        except SQLAlchemyError as exc:
            fail(f"upgrade failed, nothing changed past revision {schema.current() or 'none'}: "
                  f"{type(exc).__name__}: {exc.orig if hasattr(exc, 'orig') else exc}")
        after = schema.current()
    if before == after:
        click.echo(f"database already at revision {after}")
    else:
        click.echo(f"database upgraded from revision {before or 'none'} to {after}")


@database.command("current")
@instance_option
@config_option
def db_current(instance: Path, config: Path | None) -> None:
    """Show the database's schema revision and the one this code needs; exit 1 if they differ."""
    from broker import schema

    settings = settings_of(config, instance)
    with database_context(settings):
        found, needed, unversioned = schema.current(), schema.head(), schema.unversioned()
    state = found or ("tables without a recorded revision (made before migrations; "
                      "`broker db upgrade` adopts them)" if unversioned else "empty")
    click.echo(f"database: {state}; this code needs: {needed}")
    if found != needed:
        sys.exit(1)
