"""The serving floor: what one HTTP request costs the server before any broker work.

Usage (from the repository root)::

    .venv/bin/python benchmarks/http_floor.py --requests 3000

A brokered login is several HTTP requests to the broker (OIDC: authorize, ACS, continue,
choose, token; SAML: SSO, ACS, continue, choose). This measures the server CPU of one request
that does (almost) nothing, served the way ``broker serve`` serves (gunicorn, sync workers, no
keep-alive), driven the way ``benchmarks/login.py`` drives (a ``requests.Session`` per login,
so a new connection per request), in three steps:

- ``wsgi``: a plain WSGI callable answering 303 with a Location header: gunicorn alone;
- ``flask``: a Flask app with one view answering the same 303: gunicorn + Flask;
- ``broker``: ``broker serve`` configured as login.py configures it (SQLite), GET of its OIDC
  discovery document: gunicorn + the broker's Flask app (its before- and after-request hooks,
  security headers, a small JSON answer from the settings and the cached service catalogue),
  no database work but a catalogue read every ``config_cache_seconds``.

CPU is read from /proc for each server's process tree (master and workers), as login.py does.
Multiplied by the requests of a login, it is the least a login can cost on this stack, before
signatures, state, the register and templates.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from login import BIN  # noqa: E402
from login import PYTHON  # noqa: E402
from login import ROOT  # noqa: E402
from login import broker_command  # noqa: E402
from login import free_port  # noqa: E402
from login import machine  # noqa: E402
from login import start  # noqa: E402
from login import stop  # noqa: E402
from login import tree_cpu  # noqa: E402
from login import wait_for  # noqa: E402
from login import write_config  # noqa: E402

#: HTTP requests to the broker per login (see the module doc)
REQUESTS_PER_LOGIN = {"SAML→OIDC": 5, "SAML→SAML": 4}
#: the broker's request that does least: JSON from its settings and the cached catalogue
DISCOVERY = "/.well-known/openid-configuration"
_LOCATION = [("Location", "http://127.0.0.1/next"), ("Content-Length", "0")]


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """gunicorn's own share: a 303 and nothing else (200 on /ready, for :func:`wait_for`)."""
    if environ["PATH_INFO"] == "/ready":
        start_response("200 OK", [("Content-Length", "0")])
    else:
        start_response("303 See Other", _LOCATION)
    return [b""]


def flask_app() -> Any:
    """The same 303 through Flask (routing, request and app context, response object)."""
    from flask import Flask
    from flask import redirect

    app = Flask("floor")

    @app.get("/")
    def index() -> Any:
        return redirect("http://127.0.0.1/next", 303)

    @app.get("/ready")
    def ready() -> str:
        return ""

    return app


def gunicorn(target: str, port: int, workers: int, threads: int) -> list[str]:
    return [str(BIN / "gunicorn"), "--chdir", str(ROOT / "benchmarks"), "--workers",
            str(workers), "--threads", str(threads), "--bind", f"127.0.0.1:{port}",
            "--no-control-socket", target]


def broker(folder: Path, port: int, workers: int, threads: int) -> list[str]:
    """``broker serve`` configured as login.py configures it (its upstream IdP's metadata is
    made, the IdP is not started: no login happens here)."""
    idp = folder / "idp"
    subprocess.run([PYTHON, str(ROOT / "benchmarks" / "upstream_idp.py"), "--init", "--port",
                    str(free_port()), "--workdir", str(idp)], check=True, capture_output=True)
    config = write_config(folder, f"http://127.0.0.1:{port}", idp / "idp-metadata.xml", None)
    return broker_command(config, folder / "instance", port, workers, threads)


def drive(url: str, count: int) -> None:
    """``count`` GETs, a new ``requests.Session`` (and connection) per five, as logins do."""
    session = requests.Session()
    for number in range(count):
        if number % 5 == 0:
            session.close()
            session = requests.Session()
        response = session.get(url, allow_redirects=False, timeout=30)
        if response.status_code not in (200, 303):
            raise SystemExit(f"{url}: HTTP {response.status_code}")
    session.close()


def measure(name: str, command: list[str], path: str, ready: str, folder: Path,
            count: int) -> float:
    """Server CPU milliseconds per request for ``count`` requests to ``path``, once ``ready``
    answers 200."""
    port = int(command[command.index("--bind") + 1].rsplit(":", 1)[1])
    process = start(name, command, folder)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        wait_for(f"http://127.0.0.1:{port}{ready}", process, folder / f"{name}.log")
        drive(url, 300)  # warm up: imports, first requests, caches
        before, began = tree_cpu(process.pid), time.perf_counter()
        drive(url, count)
        cpu, wall = tree_cpu(process.pid) - before, time.perf_counter() - began
    finally:
        stop(process)
    per_request = 1000 * cpu / count
    print(f"{name}: {count} requests in {wall:.2f} s; server CPU {per_request:.3f} ms/request",
          flush=True)
    return per_request


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per server")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="more than 1: gunicorn's "
                        "gthread worker, which keeps a login's connection alive")
    args = parser.parse_args(argv)
    print(machine(False))
    print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
    folder = Path(tempfile.mkdtemp(prefix="http-floor-"))
    try:
        results = {
            "wsgi": measure("wsgi", gunicorn("http_floor:wsgi_app", free_port(), args.workers,
                                             args.threads),
                            "/", "/ready", folder, args.requests),
            "flask": measure("flask", gunicorn("http_floor:flask_app()", free_port(),
                                               args.workers, args.threads), "/", "/ready", folder,
                             args.requests),
            "broker": measure("broker", broker(folder, free_port(), args.workers, args.threads),
                              DISCOVERY, DISCOVERY, folder, args.requests),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}\n")
    print("| server | CPU ms/request | " + " | ".join(
        f"× {n} ({login})" for login, n in REQUESTS_PER_LOGIN.items()) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in REQUESTS_PER_LOGIN) + " |")
    for name, ms in results.items():
        print(f"| {name} | {ms:.3f} | " + " | ".join(
            f"{ms * n:.2f}" for n in REQUESTS_PER_LOGIN.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
