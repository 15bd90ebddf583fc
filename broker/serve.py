"""``broker serve``: the broker under gunicorn, for production.

The master process checks everything before it forks: it builds the app once from the settings
(so a bad key, an unknown component type, a refused mock connector or a Redis server that does
not answer is one line and exit status 1, not workers dying one after another), lets that build
create the instance folder's keys and secret and check the schema (upgrading an embedded
SQLite) once, closes the database connections it opened, and drops the app. Each worker then
calls ``create_app`` itself after the fork (no ``preload_app``), so no database engine,
connection pool or Redis connection is ever shared between processes, and concurrent first
starts do not race to write keys.

Forwarded headers: gunicorn is told to interpret none (no ``secure_scheme_headers``, no
``forwarder_headers``, an empty ``forwarded_allow_ips``; the ``FORWARDED_ALLOW_IPS`` environment
variable is overridden). gunicorn's defaults would turn ``X-Forwarded-Proto: https`` from
127.0.0.1, or from anyone over a unix socket, into ``wsgi.url_scheme = https`` whatever the
broker's config says. With that off, ``[broker] trust_proxy`` is the one switch: when true,
:func:`broker.app.create_app` applies werkzeug's ``ProxyFix`` for one proxy hop
(X-Forwarded-For, -Proto, -Host); when false, those headers change nothing. ProxyFix does not
look at who sent them, so with ``trust_proxy = true`` only the proxy may reach the bind address.
Either way the URLs the broker publishes (issuer, endpoints, metadata) come from
``broker.base_url``, never from a request.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]
from gunicorn.util import parse_address  # type: ignore[import-untyped]

from broker.config import Settings

#: gunicorn settings that leave every X-Forwarded-* header to the app (see the module doc).
FORWARDING: dict[str, Any] = {
    "forwarded_allow_ips": "",
    "secure_scheme_headers": {},
    "forwarder_headers": "",
}

#: Settings of newer gunicorn versions, set where the installed one has them. gunicorn 25.1
#: opens a control socket for ``gunicornc`` in $XDG_RUNTIME_DIR or ~/.gunicorn by default:
#: one path for every server the user runs, so two brokers (or a test) would fight over it.
WHERE_SUPPORTED: dict[str, Any] = {"control_socket_disable": True}


def default_workers() -> int:
    """gunicorn's advice, 2 x CPU cores + 1, at most 8: each worker holds its own database
    pool, and a small database server's connections run out long before the CPUs do."""
    return min(2 * (os.cpu_count() or 1) + 1, 8)


def check_bind(address: str) -> str:
    """``address`` when gunicorn can listen on it (HOST:PORT, [IPv6]:PORT, unix:PATH,
    fd://N); else ValueError saying why. Port 0 lets the system pick a free port."""
    if not address.strip():
        raise ValueError("empty; give HOST:PORT, e.g. 127.0.0.1:8000")
    try:
        parsed = parse_address(address)
    except RuntimeError as exc:
        raise ValueError(str(exc)) from None
    if isinstance(parsed, tuple):
        host, port = parsed
        if not host:
            raise ValueError(f"{address!r}: no host; give HOST:PORT, e.g. 127.0.0.1:8000")
        if not 0 <= port <= 65535:
            raise ValueError(f"{address!r}: port must be from 0 to 65535")
    elif isinstance(parsed, str) and not parsed:
        raise ValueError(f"{address!r}: unix: needs a socket path")
    return address


def check(settings: Settings) -> None:
    """Build the app once, as every worker will, then close what it opened; raises
    :class:`~broker.errors.ConfigError` as ``create_app`` does."""
    from broker.app import create_app
    from broker.web.database import db

    app = create_app(settings)
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()
    del app
    gc.collect()  # the app's reference cycles hold the Redis client; close its socket now


def serve(settings: Settings, *, binds: Sequence[str], workers: int | None, threads: int,
          timeout: int) -> None:
    """Check ``settings`` (see :func:`check`), then run gunicorn until it is stopped (SIGTERM or
    SIGINT: workers finish their requests first). Does not return; gunicorn exits.
    ``workers=None``: :func:`default_workers`."""
    check(settings)
    BrokerServer(settings, {
        "bind": list(binds), "workers": workers or default_workers(), "threads": threads,
        "timeout": timeout, "preload_app": False, "proc_name": "broker",
    }).run()


class BrokerServer(BaseApplication):  # type: ignore[misc]
    """gunicorn's application: fixed settings, and an app built in each worker."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = {**options, **FORWARDING}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        for key, value in WHERE_SUPPORTED.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        from broker.app import create_app

        return create_app(self.settings)
