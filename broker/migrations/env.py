"""Alembic's environment for the broker: the engine and metadata of the running Flask app.

Run through Flask-Migrate (``broker db upgrade``, :mod:`broker.schema`), never through a
logging config of its own: the broker's logging stays as the operator set it.
"""

from __future__ import annotations

from alembic import context
from flask import current_app

from broker import schema

config = context.config


def run_migrations_offline() -> None:
    """Write SQL for the configured URL instead of running it (``broker db upgrade --sql``)."""
    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    context.configure(url=url, target_metadata=schema.metadata(), literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    migrate = current_app.extensions["migrate"]
    with migrate.db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=schema.metadata(),
                          **migrate.configure_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
