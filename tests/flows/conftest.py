"""Flow tests run the broker on a real loopback HTTP server, in a thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from broker.app import create_app
from broker.config import Settings
from tests.conftest import release
from tests.flows.browser import Browser


@pytest.fixture
def base_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def live_app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    port = int(settings.base_url.rsplit(":", 1)[1])
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        thread.join(5)
        release(app)


@pytest.fixture
def browser(live_app: Flask, base_url: str) -> Browser:
    return Browser(base_url)


@pytest.fixture
def broker_db(live_app: Flask) -> Iterator[Any]:
    """A database session of the running broker, for setting up and checking state."""
    from broker.web.database import db

    with live_app.app_context():
        yield db.session


