"""Running the broker: ``broker demo``, ``broker serve``, ``broker check-config``,
``broker housekeeping``, and ``broker totp`` for the demo's codes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from broker.cli.common import app_or_exit
from broker.cli.common import config_option
from broker.cli.common import fail
from broker.cli.common import instance_option
from broker.cli.common import settings_of
from broker.cli.common import with_database
from broker.errors import ConfigError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@instance_option
@config_option
def demo(host: str, port: int, instance: Path, config: Path | None) -> None:
    """Run the broker with mock DigiD and demo relying parties in one process."""
    settings = settings_of(config, instance, base_url=f"http://{_url_host(host)}:{port}")
    app = app_or_exit(settings)
    click.echo(f"Broker demo on {settings.base_url}  (instance: {instance.resolve()})")
    click.echo(f"  demo service:   {settings.base_url}/demo/")
    click.echo(f"  OIDC discovery: {settings.base_url}/.well-known/openid-configuration")
    click.echo(f"  SAML metadata:  {settings.base_url}/saml/idp/metadata")
    click.echo("  accounts: jan, fatima, pieter, henk, noor; password 'demo'; "
               "TOTP secret JBSWY3DPEHPK3PXP")
    app.run(host=host, port=port, threaded=True, use_reloader=False, debug=False)


def _check_binds(ctx: click.Context, param: click.Parameter,
                 binds: tuple[str, ...]) -> tuple[str, ...]:
    from broker.serve import check_bind

    try:
        return tuple(check_bind(address) for address in binds)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.command()
@click.option("--bind", "binds", multiple=True, default=("127.0.0.1:8000",), show_default=True,
              callback=_check_binds, metavar="ADDRESS",
              help="HOST:PORT, [IPv6]:PORT or unix:PATH to listen on; repeat for several.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              show_default="2 x CPU cores + 1, at most 8",
              help="Worker processes, each with its own app and database connections.")
@click.option("--threads", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Threads per worker (more than 1: gunicorn's gthread worker).")
@click.option("--timeout", type=click.IntRange(5, 3600), default=30, show_default=True,
              help="Seconds a request may take before its worker is restarted.")
@instance_option
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              default=lambda: os.environ.get("BROKER_CONFIG"),
              help="TOML config file (or BROKER_CONFIG); required.")
def serve(binds: tuple[str, ...], workers: int | None, threads: int, timeout: int, instance: Path,
          config: Path | None) -> None:
    """Serve the broker in production with gunicorn; needs a config file.

    The base URL comes from the file ([broker] base_url); X-Forwarded-* headers count only with
    [broker] trust_proxy = true. SIGTERM stops it after the requests in progress.
    """
    from broker import serve as server

    if config is None:
        raise click.UsageError("give --config FILE or set BROKER_CONFIG "
                               "(serve never falls back to the demo config)")
    settings = settings_of(config, instance)
    if settings.allow_mock_connectors:
        click.echo("warning: broker.allow_mock_connectors = true: mock identity providers "
                   "are served", err=True)
    try:
        server.serve(settings, binds=binds, workers=workers, threads=threads, timeout=timeout)
    except ConfigError as exc:
        fail(f"config error: {exc}")


@click.command()
@click.argument("secret", default="JBSWY3DPEHPK3PXP")
def totp(secret: str) -> None:
    """Print the current code of a mock account's TOTP secret (default: the demo world's)."""
    from datetime import UTC
    from datetime import datetime

    from broker.mock_idp.engine import totp as code_at

    click.echo(code_at(secret, datetime.now(UTC)))


@click.command("check-config")
@instance_option
@config_option
def check_config(instance: Path, config: Path | None) -> None:
    """Validate a config file and every component it names; name the first bad key."""
    if config is None:
        raise click.UsageError("give --config FILE or set BROKER_CONFIG")
    settings = settings_of(config, instance)
    app_or_exit(settings)
    click.echo(f"{config}: OK ({len(settings.connectors)} connector(s), "
               f"{len(settings.frontends)} frontend(s))")


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104


@click.command("housekeeping")
@instance_option
@config_option
def housekeeping_command(instance: Path, config: Path | None) -> None:
    """Record logins that expired unfinished as abandoned, and remove expired state.

    Every broker process does this by itself every [broker] housekeeping_seconds; run this
    from cron when that is set to 0. Safe to run while brokers serve, and several at once.
    """
    from broker import housekeeping
    from broker.clock import utcnow
    from broker.state import open_store

    def run(session: Any) -> None:
        store = open_store(settings_of(config, instance), lambda: session)
        swept = housekeeping.sweep(lambda: session, store, utcnow)
        click.echo(f"abandoned logins recorded: {swept.abandoned}; expired state removed: "
                   f"{swept.expired_state}; form submission marks removed: "
                   f"{swept.submissions}")

    with_database(instance, config, run)
