"""Brokers served by ``broker serve`` in a subprocess, for the tests that need real processes.

The server listens on a port the system picks (``--bind 127.0.0.1:0``; the port is read from
gunicorn's "Listening at" line), so nothing depends on a port being free. Waits are bounded
only to catch a hang, never to judge speed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import pytest
import requests

BROKER = str(Path(sys.executable).with_name("broker"))
HANG = 90  # seconds: only a server that hangs takes this long


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(self.url + path, headers=headers, timeout=HANG,
                            allow_redirects=False)

    def children(self) -> set[int]:
        """The pids whose parent is the master: its workers."""
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:  # the process ended meanwhile
                continue
            if int(fields[1]) == self.process.pid:
                found.add(int(stat.parent.name))
        return found


@contextmanager
def serve(command: list[str], config: Path, instance: Path, environ: dict[str, str],
          *options: str, bind: str = "127.0.0.1:0",
          log_name: str = "serve.log") -> Iterator[Served]:
    """``broker serve`` (run by ``command``) until the block ends, then SIGTERM."""
    log = config.parent / log_name
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "serve", "--config", str(config), "--instance", str(instance),
             "--bind", bind, *options],
            stdout=sink, stderr=subprocess.STDOUT, env=environ)
    try:
        yield Served(process, _listening(process, log), log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(HANG)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _listening(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            return found.group(1)
        if process.poll() is not None:
            pytest.fail(f"broker serve exited with {process.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    pytest.fail(f"broker serve did not listen:\n{log.read_text()}")


def toml(data: dict[str, Any]) -> str:
    """``data`` (tables of strings, booleans and whole numbers, nested once) as TOML."""
    lines = []
    for section, table in data.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_value(value)}" for key, value in table.items()
                  if not isinstance(value, dict)]
        for name, inner in table.items():
            if isinstance(inner, dict):
                lines.append(f"[{section}.{name}]")
                lines += [f"{key} = {_value(value)}" for key, value in inner.items()]
    return "\n".join(lines) + "\n"


def _value(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)


@dataclass
class TwoBrokers:
    """Two ``broker serve`` processes with one config, secret, instance (keys), database and
    Redis, behind one base URL: identical machines behind a load balancer. ``first`` listens
    at the base URL itself; a request reaches ``second`` through :meth:`through`."""

    base_url: str
    first: Served
    second: Served
    config: Path
    instance: Path
    environ: dict[str, str]

    def through(self, process: Served) -> Callable[[str], str]:
        """A route sending every broker request to ``process``."""
        return lambda url: moved(url, self.base_url, process.url)


@contextmanager
def two_brokers(folder: Path, instance: Path, service_environ: dict[str, str],
                data: dict[str, Any], *options: str) -> Iterator[TwoBrokers]:
    """Serve ``data`` (a config whose base URL must be ``data["broker"]["base_url"]``, free
    port) twice, one worker each unless ``options`` say otherwise."""
    base_url = data["broker"]["base_url"]
    config = folder / "broker.toml"
    config.write_text(toml(data))
    environ = {**{k: v for k, v in os.environ.items() if not k.startswith("BROKER_")},
               **service_environ, "BROKER_SECRET_KEY": secrets.token_hex(32)}
    workers = () if "--workers" in options else ("--workers", "1")
    # the second starts once the first listens: it has seeded the demo world and made the keys
    with serve([BROKER], config, instance, environ, *workers, *options,
               bind=urlsplit(base_url).netloc) as first, serve(
            [BROKER], config, instance, environ, *workers, *options,
            log_name="serve-second.log") as second:
        yield TwoBrokers(base_url, first, second, config, instance, environ)


def moved(url: str, base_url: str, to: str) -> str:
    """``url`` sent to ``to`` instead, when it is the broker's."""
    parts, base = urlsplit(url), urlsplit(base_url)
    if parts.netloc != base.netloc:
        return url
    target = urlsplit(to)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
