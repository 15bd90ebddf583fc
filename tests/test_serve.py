"""``broker serve``: a real gunicorn master with its workers, forwarded headers, refusals.

The served tests start ``broker serve`` as a subprocess on a port the system picks (``--bind
127.0.0.1:0``; the port is read from gunicorn's "Listening at" line), so nothing depends on a
port being free. Waits are bounded only to catch a hang, never to judge speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from broker.cli import main
from broker.config import Settings
from broker.config import demo_config
from broker.serve import BrokerServer
from broker.serve import check_bind
from tests import services
from tests.served import BROKER
from tests.served import HANG
from tests.served import serve
from tests.served import toml

BASE_URL = "https://broker.example.test"
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example",
             "X-Forwarded-For": "203.0.113.9"}

#: ``broker`` with one extra route that shows what the app sees of a request; the route is
#: added inside create_app, so the master's check and every worker's app have it.
ECHO_BROKER = """
import sys

from flask import jsonify
from flask import request

import broker.app

_create_app = broker.app.create_app


def create_app(settings):
    app = _create_app(settings)
    app.add_url_rule("/_test/request", "test_request", lambda: jsonify(
        scheme=request.scheme, host=request.host, remote_addr=request.remote_addr))
    return app


broker.app.create_app = create_app

from broker.cli import main

main(sys.argv[1:])
"""


@pytest.fixture
def write_config(tmp_path: Path, service_environ: dict[str, str]) -> Any:
    def write(**broker: Any) -> Path:
        data = demo_config(BASE_URL)
        data["broker"].update(broker)
        if "REDIS_URL" in service_environ:
            data["broker"]["redis_prefix"] = services.redis_prefix()
        path = tmp_path / "broker.toml"
        path.write_text(toml(data))
        assert tomllib.loads(path.read_text()) == data
        return path
    return write


@pytest.fixture
def environ(service_environ: dict[str, str]) -> dict[str, str]:
    """This environment without the broker's own variables, plus this run's services."""
    own = ("BROKER_CONFIG", "BROKER_SECRET_KEY", "DATABASE_URL", "BROKER_DATABASE_URL",
           "REDIS_URL", "FORWARDED_ALLOW_IPS")
    return {**{k: v for k, v in os.environ.items() if k not in own}, **service_environ}


def test_serve_runs_two_workers_and_stops_on_sigterm(
        write_config: Any, instance_path: Path, environ: dict[str, str]) -> None:
    config = write_config()
    with serve([BROKER], config, instance_path, environ, "--workers", "2") as served:
        discovery = served.get("/.well-known/openid-configuration")
        assert discovery.status_code == 200
        assert discovery.json()["issuer"] == BASE_URL
        home = served.get("/")
        assert home.status_code == 200 and "text/html" in home.headers["Content-Type"]
        deadline = time.monotonic() + HANG
        while len(served.children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = served.children()
        assert len(workers) == 2
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(HANG) == 0
        log = served.log.read_text()
    assert log.count("Booting worker") == 2
    assert "Shutting down: Master" in log
    assert "Traceback" not in log


@pytest.mark.parametrize("trust_proxy", [False, True])
def test_forwarded_headers_count_only_with_trust_proxy(
        trust_proxy: bool, write_config: Any, instance_path: Path, environ: dict[str, str],
        tmp_path: Path) -> None:
    """gunicorn's own trust is off even where FORWARDED_ALLOW_IPS trusts everyone: only
    ``trust_proxy`` (ProxyFix in the app) decides. The published URLs never follow a request."""
    script = tmp_path / "echo_broker.py"
    script.write_text(ECHO_BROKER)
    config = write_config(trust_proxy=trust_proxy)
    with serve([sys.executable, str(script)], config, instance_path,
               {**environ, "FORWARDED_ALLOW_IPS": "*"}, "--workers", "1") as served:
        seen = served.get("/_test/request", **FORWARDED).json()
        discovery = served.get("/.well-known/openid-configuration", **FORWARDED).json()
    if trust_proxy:
        assert seen == {"scheme": "https", "host": "evil.example", "remote_addr": "203.0.113.9"}
    else:
        assert seen == {"scheme": "http", "host": served.url.removeprefix("http://"),
                        "remote_addr": "127.0.0.1"}
    assert "evil.example" not in json.dumps(discovery)
    assert discovery["issuer"] == BASE_URL
    assert discovery["authorization_endpoint"] == f"{BASE_URL}/oidc/authorize"


def test_gunicorn_interprets_no_forwarded_header(settings: Settings) -> None:
    server = BrokerServer(settings, {"bind": ["127.0.0.1:0"], "workers": 1})
    assert server.cfg.forwarded_allow_ips == []
    assert server.cfg.secure_scheme_headers == {}
    assert server.cfg.forwarder_headers == []
    assert server.cfg.preload_app is False


def test_serve_refuses_to_run_without_a_config_file(instance_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--instance", str(instance_path)],
                                env={"BROKER_CONFIG": None})
    assert result.exit_code == 2
    assert "give --config FILE or set BROKER_CONFIG" in result.output
    assert "never falls back to the demo config" in result.output


@pytest.mark.parametrize(("bind", "message"), [
    ("localhost:http", "'http' is not a valid port number"),
    ("127.0.0.1:70000", "port must be from 0 to 65535"),
    (":8000", "no host"),
    ("unix:", "unix: needs a socket path"),
])
def test_serve_refuses_a_bad_bind(bind: str, message: str, write_config: Any,
                                  instance_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--config", str(write_config()), "--instance",
                                       str(instance_path), "--bind", bind])
    assert result.exit_code == 2
    assert "Invalid value for '--bind'" in result.output and message in result.output


@pytest.mark.parametrize(("text", "message"), [
    ('[broker]\nbase_url = "https://b.example"\ncolour = "blue"\n', "broker.colour: unknown key"),
    ('[frontends.oidc]\ntype = "oidc"\n[connectors.digid]\ntype = "mock_digid"\n',
     "broker.base_url: missing"),
    ("[broker\n", "is not valid TOML"),
])
def test_serve_refuses_a_bad_config_file(text: str, message: str, tmp_path: Path,
                                         instance_path: Path) -> None:
    config = tmp_path / "broker.toml"
    config.write_text(text)
    result = CliRunner().invoke(main, ["serve", "--config", str(config), "--instance",
                                       str(instance_path)])
    assert result.exit_code == 1
    assert result.output.startswith("config error: ") and message in result.output


def test_serve_checks_the_components_before_any_worker_starts(
        tmp_path: Path, instance_path: Path, environ: dict[str, str]) -> None:
    """A config only building the app can refuse is one line and exit status 1 from the
    master, not workers failing to boot."""
    config = tmp_path / "broker.toml"
    config.write_text(f'[broker]\nbase_url = "{BASE_URL}"\n'
                      '[connectors.digid]\ntype = "mock_digid"\n'
                      '[frontends.oidc]\ntype = "oidc"\n')
    result = subprocess.run(
        [BROKER, "serve", "--config", str(config), "--instance", str(instance_path),
         "--bind", "127.0.0.1:0"], capture_output=True, text=True, env=environ, timeout=HANG)
    assert result.returncode == 1
    assert result.stderr.strip() == ("config error: connectors.digid: mock connector refused; "
                                     "set broker.allow_mock_connectors = true only outside "
                                     "production")
    assert "Booting worker" not in result.stdout + result.stderr


@pytest.mark.parametrize("address", ["127.0.0.1:8000", "[::1]:8000", "unix:/run/broker.sock",
                                     "0.0.0.0:443"])
def test_check_bind_accepts_what_gunicorn_can_listen_on(address: str) -> None:
    assert check_bind(address) == address
