"""Shared fixtures: settings on a temporary instance, the app, and a key cache.

Generating RSA keys costs tens of milliseconds each; every test instance starts from one cache
of keys made once per session, so tests stay fast without any key material in the repository.
Likewise every test's database is a copy of one the migrations made once (or, on PostgreSQL,
the run's own database emptied): see :mod:`tests.services`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from broker.app import create_app
from broker.components import Components
from broker.config import Settings
from broker.config import demo_config
from broker.config import load_settings
from tests import services


@pytest.fixture(scope="session")
def key_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("key-cache")


@pytest.fixture(scope="session")
def schema_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite broker database made by the migrations, once per run."""
    return services.migrated_sqlite(tmp_path_factory.mktemp("schema"))


@pytest.fixture(scope="session", autouse=True)
def postgresql() -> Iterator[services.TestDatabase | None]:
    """This run's PostgreSQL database when DATABASE_URL names a server; else None (SQLite).
    DATABASE_URL then names it, so that nothing under test reaches the server's other
    databases."""
    url = services.postgresql_url()
    if url is None:
        yield None
        return
    from sqlalchemy.exc import OperationalError

    try:
        made = services.test_database(url)
        database = next(made)
    except OperationalError as exc:
        pytest.skip(f"DATABASE_URL is set but PostgreSQL does not answer: {exc.orig}")
    os.environ["DATABASE_URL"] = database.url
    yield database
    next(made, None)


@pytest.fixture
def service_environ(postgresql: services.TestDatabase | None) -> dict[str, str]:
    """The environment a broker under test reads: DATABASE_URL and REDIS_URL of this run's
    services (PostgreSQL emptied for this test), or nothing for SQLite and the SQL store."""
    environ = {}
    if postgresql is not None:
        postgresql.empty()
        environ["DATABASE_URL"] = postgresql.url
    if services.redis_url():
        environ["REDIS_URL"] = services.redis_url() or ""
    return environ


@pytest.fixture
def instance_path(tmp_path: Path, key_cache: Path, schema_template: Path,
                  service_environ: dict[str, str]) -> Iterator[Path]:
    instance = tmp_path / "instance"
    shutil.copytree(key_cache, instance / "keys")
    services.copy_sqlite(schema_template, instance / "broker.db")
    yield instance
    for key_file in (instance / "keys").glob("*"):
        target = key_cache / key_file.name
        if not target.exists():
            shutil.copy2(key_file, target)


@pytest.fixture
def base_url() -> str:
    return "http://localhost"


@pytest.fixture
def config(base_url: str) -> dict[str, Any]:
    """The demo configuration; a test module overrides this fixture to change it."""
    return demo_config(base_url)


@pytest.fixture
def settings(config: dict[str, Any], instance_path: Path,
             service_environ: dict[str, str]) -> Settings:
    if "REDIS_URL" in service_environ:
        config = {**config, "broker": {**config.get("broker", {}),
                                       "redis_prefix": services.redis_prefix()}}
    return load_settings(config, instance_path=instance_path, environ=service_environ)


@pytest.fixture
def components() -> Components:
    """Component types beyond the installed ones; a test folder overrides this fixture to add
    its fakes."""
    return Components()


@pytest.fixture
def app(settings: Settings, components: Components) -> Iterator[Flask]:
    app = create_app(settings, components)
    app.config["TESTING"] = True
    with app.app_context():
        yield app
    release(app)


@pytest.fixture(autouse=True)
def _close_database_connections() -> Iterator[None]:
    """After each test, close the connections of every app it made (apps a test builds
    itself included): PostgreSQL would otherwise keep them, and psycopg warns when the
    garbage collector finds one open."""
    yield
    from broker.web.database import db

    for engines in list(db._app_engines.values()):  # noqa: SLF001  (Flask-SQLAlchemy's registry)
        for engine in engines.values():
            engine.dispose()


def release(app: Flask) -> None:
    """Close the app's database connections, which PostgreSQL would otherwise keep open."""
    from broker.web.database import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def database_url(instance_path: Path, service_environ: dict[str, str]) -> str:
    """The test's fresh database with the broker's tables: the instance's SQLite copy, or
    PostgreSQL; the one a broker or a command on ``instance_path`` uses."""
    return service_environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'broker.db'}"


@pytest.fixture
def database(database_url: str) -> Iterator[Any]:
    """A session on a fresh database with the broker's tables, without a broker."""
    from broker.db import sqlalchemy_url
    from broker.web.database import db

    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(database_url)
    db.init_app(app)
    with app.app_context():
        yield db.session()
    release(app)


@pytest.fixture(autouse=True)
def _clean_environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
