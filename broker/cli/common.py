"""What the commands share: the --instance and --config options, the instance's settings,
its database (with the schema checked), and the names the audit trail records.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from typing import NoReturn

import click
from flask import Flask

from broker.config import Settings
from broker.config import demo_config
from broker.config import load_settings
from broker.config import read_file
from broker.errors import ConfigError
from broker.errors import InputError

instance_option = click.option(
    "--instance", "instance", type=click.Path(file_okay=False, path_type=Path),
    default=Path("instance"), show_default=True, help="Instance folder: database, keys.")


config_option = click.option(
    "--config", "config", type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: os.environ.get("BROKER_CONFIG"),
    help="TOML config file (or BROKER_CONFIG). Without one, the demo config is used.")


def catalogue_of(session: Any) -> Any:
    from broker.context import service_from_record
    from broker.db import ServiceRecord
    from broker.services import ServiceCatalogue

    return ServiceCatalogue([service_from_record(row)
                             for row in session.query(ServiceRecord).all()])


def register_of(session: Any) -> Any:
    from broker.register.service import Register

    return Register(session, catalogue_of(session))


def admin_actor() -> str:
    import getpass

    return f"admin:{getpass.getuser()}"


def settings_of(config: Path | None, instance: Path, base_url: str | None = None) -> Settings:
    try:
        data = read_file(config) if config else demo_config(base_url or "http://127.0.0.1:5000")
        if config and base_url:
            data.setdefault("broker", {}).setdefault("base_url", base_url)
        return load_settings(data, instance_path=instance)
    except ConfigError as exc:
        fail(f"config error: {exc}")


def app_or_exit(settings: Settings) -> Flask:
    from broker.app import create_app

    try:
        return create_app(settings)
    except ConfigError as exc:
        fail(f"config error: {exc}")


def with_database(instance: Path, config: Path | None, action: Callable[[Any], None]) -> None:
    """Run ``action(session)`` against the instance's database, reporting InputError plainly."""
    from broker.demo.seed import seed
    from broker.web.database import db

    settings = settings_of(config, instance)
    with database_context(settings):
        ensure_schema(settings)
        if config is None:  # the demo instance: its catalogue exists from the first command on
            seed(db.session())
        try:
            action(db.session())
        except InputError as exc:
            db.session.rollback()
            fail(f"refused: {exc}")


@contextmanager
def database_context(settings: Settings) -> Iterator[None]:
    """An app context with only the database and the migrations, for commands on the database;
    its connections are closed at the end."""
    from broker import schema
    from broker.db import sqlalchemy_url
    from broker.web.database import db

    app = Flask("broker-admin", instance_path=str(settings.instance_path.resolve()))
    app.config["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(settings.database_url)
    db.init_app(app)
    schema.init_app(app)
    with app.app_context():
        try:
            yield
        finally:
            db.session.remove()
            db.engine.dispose()


def ensure_schema(settings: Settings) -> None:
    from broker import schema
    from broker.db import is_embedded

    try:
        schema.ensure_current(upgrade_embedded=is_embedded(settings.database_url))
    except ConfigError as exc:
        fail(str(exc))


def fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(1)


def cli_actor() -> str:
    """The audit trail's name for whoever runs this command: cli:<login name>."""
    import getpass

    return f"cli:{getpass.getuser()}"


def audit_admin(session: Any, action: str, subject: str | None,
                 detail: dict[str, Any]) -> None:
    """Add an administrator's action to the trail; it commits with the change it describes."""
    from broker import audit

    audit.record(session, actor=cli_actor(), action=action, subject=subject, detail=detail)
