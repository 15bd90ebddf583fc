"""Shared fixtures: settings on a temporary instance, the app, and a key cache.

Generating RSA keys costs tens of milliseconds each; every test instance starts from one cache
of keys made once per session, so tests stay fast without any key material in the repository.
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
from broker.config import Settings
from broker.config import demo_config
from broker.config import load_settings


@pytest.fixture(scope="session")
def key_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("key-cache")


@pytest.fixture
def instance_path(tmp_path: Path, key_cache: Path) -> Iterator[Path]:
    instance = tmp_path / "instance"
    shutil.copytree(key_cache, instance / "keys")
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
def settings(config: dict[str, Any], instance_path: Path) -> Settings:
    return load_settings(config, instance_path=instance_path, environ={})


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    app.config["TESTING"] = True
    with app.app_context():
        yield app


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Any]:
    """A session on a fresh SQLite database with the broker's tables, without a broker."""
    from broker.db import db

    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'broker.db'}"
    db.init_app(app)
    with app.app_context():
        db.create_all()
        yield db.session()


@pytest.fixture(autouse=True)
def _clean_environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
