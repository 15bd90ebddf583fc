"""The ``broker`` command: run the demo, check a config, register relying parties.

Every command that changes data acts on an instance folder (``--instance``, default
``./instance``), the same one a running ``broker demo`` uses, so a tester can register a client
while the demo runs.
"""

from __future__ import annotations

import hashlib
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

_instance_option = click.option(
    "--instance", "instance", type=click.Path(file_okay=False, path_type=Path),
    default=Path("instance"), show_default=True, help="Instance folder: database, keys.")
_config_option = click.option(
    "--config", "config", type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: os.environ.get("BROKER_CONFIG"),
    help="TOML config file (or BROKER_CONFIG). Without one, the demo config is used.")


@click.group()
def main() -> None:
    """An identity broker for logging in on behalf of someone else."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@_instance_option
@_config_option
def demo(host: str, port: int, instance: Path, config: Path | None) -> None:
    """Run the broker with mock DigiD and demo relying parties in one process."""
    settings = _settings(config, instance, base_url=f"http://{_url_host(host)}:{port}")
    app = _app_or_exit(settings)
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


@main.command()
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
@_instance_option
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
    settings = _settings(config, instance)
    if settings.allow_mock_connectors:
        click.echo("warning: broker.allow_mock_connectors = true: mock identity providers "
                   "are served", err=True)
    try:
        server.serve(settings, binds=binds, workers=workers, threads=threads, timeout=timeout)
    except ConfigError as exc:
        _fail(f"config error: {exc}")


@main.command()
@click.argument("secret", default="JBSWY3DPEHPK3PXP")
def totp(secret: str) -> None:
    """Print the current code of a mock account's TOTP secret (default: the demo world's)."""
    from datetime import UTC
    from datetime import datetime

    from broker.mock_idp.engine import totp as code_at

    click.echo(code_at(secret, datetime.now(UTC)))


@main.command("check-config")
@_instance_option
@_config_option
def check_config(instance: Path, config: Path | None) -> None:
    """Validate a config file and every component it names; name the first bad key."""
    if config is None:
        raise click.UsageError("give --config FILE or set BROKER_CONFIG")
    settings = _settings(config, instance)
    _app_or_exit(settings)
    click.echo(f"{config}: OK ({len(settings.connectors)} connector(s), "
               f"{len(settings.frontends)} frontend(s))")


@main.group()
def clients() -> None:
    """OpenID Connect relying parties."""


@clients.command("add")
@click.option("--client-id", required=True)
@click.option("--redirect-uri", "redirect_uris", required=True, multiple=True,
              help="Exact redirect URI; repeat for several.")
@click.option("--secret", default=None, help="At least 32 characters; generated when omitted.")
@click.option("--claims", "claims_profile", type=click.Choice(["nlgov", "act"]), default="nlgov",
              show_default=True, help="nlgov: sub acts, 'represents' nests; act: RFC 8693.")
@click.option("--bsn", "may_receive_bsn", is_flag=True, help="This client may receive the BSN.")
@click.option("--name", default=None, help="Name people see while logging in (default: the id).")
@_instance_option
@_config_option
def clients_add(client_id: str, redirect_uris: tuple[str, ...], secret: str | None,
                claims_profile: str, may_receive_bsn: bool, name: str | None, instance: Path,
                config: Path | None) -> None:
    """Register (or update) an OIDC client."""
    from broker.frontends.oidc.clients import register_client

    def register(session: Any) -> None:
        _audit_admin(session, "admin.client_added", client_id, {
            "redirect_uris": list(redirect_uris), "claims_profile": claims_profile,
            "may_receive_bsn": may_receive_bsn, "name": name, "secret_generated": secret is None})
        generated = register_client(
            session, client_id=client_id, redirect_uris=list(redirect_uris), secret=secret,
            claims_profile=claims_profile, may_receive_bsn=may_receive_bsn, name=name)
        click.echo(f"client {client_id} registered ({claims_profile}"
                   f"{', may receive the BSN' if may_receive_bsn else ''})")
        if generated:
            click.echo(f"client secret (shown once): {generated}")

    _with_database(instance, config, register)


@main.group("sp")
def service_providers() -> None:
    """SAML service providers."""


@service_providers.command("add")
@click.option("--metadata", "source", required=True, help="Metadata file path or http(s) URL.")
@click.option("--service", default=None, help="Default ServiceUUID for this SP.")
@_instance_option
@_config_option
def sp_add(source: str, service: str | None, instance: Path, config: Path | None) -> None:
    """Register (or replace) a SAML service provider by its metadata."""
    from broker.frontends.saml_idp.providers import load_metadata
    from broker.frontends.saml_idp.providers import register_service_provider

    def register(session: Any) -> None:
        catalogue = _catalogue(session)
        document = load_metadata(source)
        _audit_admin(session, "admin.sp_added", _entity_id(document), {
            "source": source, "service": service,
            "metadata_sha256": hashlib.sha256(document).hexdigest()})
        provider = register_service_provider(
            session, metadata=document, service=service, catalogue=catalogue)
        click.echo(f"service provider {provider.entity_id} registered "
                   f"(default service {provider.default_service or '-'}, "
                   f"{len(provider.services_by_index)} indexed service(s))")

    _with_database(instance, config, register)


@main.group()
def mandates() -> None:
    """The mandate register."""


@mandates.group()
def legal() -> None:
    """Legal representation, recorded from court decisions by an administrator."""


@legal.command("add")
@click.option("--represented", "represented_bsn", required=True, help="BSN of the represented.")
@click.option("--representative", "representative_bsn", required=True,
              help="BSN of the bewindvoerder, curator, mentor or parent.")
@click.option("--role", required=True,
              type=click.Choice(["bewind", "curatele", "mentorschap", "ouderlijk_gezag"]))
@click.option("--service", "services", required=True, multiple=True,
              help="ServiceUUID; repeat for several.")
@click.option("--court-reference", required=True, help="Reference of the court decision.")
@click.option("--until", "valid_until", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="End date (ouderlijk gezag ends on the 18th birthday by itself).")
@_instance_option
@_config_option
def legal_add(represented_bsn: str, representative_bsn: str, role: str,
              services: tuple[str, ...], court_reference: str, valid_until: Any,
              instance: Path, config: Path | None) -> None:
    """Record one legal representation."""
    def record(session: Any) -> None:
        mandate = _register(session).record_legal(
            represented_bsn=represented_bsn, representative_bsn=representative_bsn, role=role,
            services=list(services), court_reference=court_reference, actor=_admin_actor(),
            valid_until=valid_until, commit=False)
        _audit_admin(session, "admin.legal_recorded", mandate.id, {"role": role})
        session.commit()
        until = mandate.valid_until.date().isoformat() if mandate.valid_until else "open-ended"
        click.echo(f"recorded {role} {mandate.id} (until {until})")

    _with_database(instance, config, record)


@legal.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--dry-run", is_flag=True, help="Check every row; write nothing.")
@_instance_option
@_config_option
def legal_import(file: Any, dry_run: bool, instance: Path, config: Path | None) -> None:
    """Record legal representation in bulk from a CSV file; report every refused row."""
    from broker.register.legal_import import import_legal

    def run(session: Any) -> None:
        report = import_legal(_register(session), file, actor=_admin_actor(), dry_run=dry_run)
        if not dry_run:
            _audit_admin(session, "admin.legal_imported", None, {
                "file": getattr(file, "name", None), "recorded": report.recorded,
                "skipped": report.skipped, "refused": len(report.refused)})
            session.commit()
        verb = "would record" if dry_run else "recorded"
        click.echo(f"{verb} {report.recorded}, already present {report.skipped}, "
                   f"refused {len(report.refused)}")
        for line, reason in report.refused:
            click.echo(f"  line {line}: {reason.en}")
        if report.refused:
            sys.exit(1)

    _with_database(instance, config, run)


@mandates.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None,
              help="File format (default: from the extension, .csv or .jsonl).")
@click.option("--dry-run", is_flag=True, help="Check every row; write nothing.")
@click.option("--actor", default=None, help="Name recorded in each mandate's history "
              "(default: admin:<login name>).")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write every rejected row (line, reason, reden) to this CSV.")
@_instance_option
@_config_option
def mandates_import(file: Path, fmt: str | None, dry_run: bool, actor: str | None,
                    report_file: Path | None, instance: Path, config: Path | None) -> None:
    """Import company, chain and voluntary mandates in bulk from CSV or JSON Lines.

    Exit status 1 when any row was rejected.
    """
    from broker.register.bulk_import import format_for
    from broker.register.bulk_import import import_file

    depth = _settings(config, instance).register.get("chain_depth", 1)

    def run(session: Any) -> None:
        kind = format_for(file, fmt)
        with click.progressbar(length=_count_lines(file), label="rows", file=sys.stderr) as bar:
            report = import_file(session, _catalogue(session), file, fmt=kind,
                                 actor=actor or _admin_actor(), dry_run=dry_run,
                                 progress=bar.update, chain_depth=depth)
        if not dry_run:
            _audit_admin(session, "admin.mandates_imported", None, {
                "file": str(file), "format": kind, "actor": actor or _admin_actor(),
                "accepted": report.accepted, "skipped": report.skipped,
                "rejected": len(report.rejected)})
            session.commit()
        verb = "would import" if dry_run else "imported"
        click.echo(f"{verb} {report.accepted}, already present {report.skipped}, "
                   f"rejected {len(report.rejected)}")
        for rejection in report.rejected[:50]:
            click.echo(f"  line {rejection.line}: {rejection.reason}")
        if len(report.rejected) > 50:
            click.echo(f"  ... and {len(report.rejected) - 50} more"
                       + ("" if report_file else " (use --report FILE for all)"))
        if report_file:
            _write_rejections(report_file, report.rejected)
            click.echo(f"rejected rows written to {report_file}")
        if report.rejected:
            sys.exit(1)

    _with_database(instance, config, run)


def _count_lines(path: Path) -> int:
    """Lines in the file, counted in chunks (for the progress bar), minus a CSV header."""
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return max(count - (1 if path.suffix.lower() == ".csv" else 0), 0)


def _write_rejections(path: Path, rejections: Any) -> None:
    import csv

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason", "reden"])
        for rejection in rejections:
            writer.writerow([rejection.line, rejection.reason, rejection.reason_nl])


def _catalogue(session: Any) -> Any:
    from broker.context import service_from_record
    from broker.db import ServiceRecord
    from broker.services import ServiceCatalogue

    return ServiceCatalogue([service_from_record(row)
                             for row in session.query(ServiceRecord).all()])


def _register(session: Any) -> Any:
    from broker.register.service import Register

    return Register(session, _catalogue(session))


def _admin_actor() -> str:
    import getpass

    return f"admin:{getpass.getuser()}"


def _settings(config: Path | None, instance: Path, base_url: str | None = None) -> Settings:
    try:
        data = read_file(config) if config else demo_config(base_url or "http://127.0.0.1:5000")
        if config and base_url:
            data.setdefault("broker", {}).setdefault("base_url", base_url)
        return load_settings(data, instance_path=instance)
    except ConfigError as exc:
        _fail(f"config error: {exc}")


def _app_or_exit(settings: Settings) -> Flask:
    from broker.app import create_app

    try:
        return create_app(settings)
    except ConfigError as exc:
        _fail(f"config error: {exc}")


def _with_database(instance: Path, config: Path | None, action: Callable[[Any], None]) -> None:
    """Run ``action(session)`` against the instance's database, reporting InputError plainly."""
    from broker.db import db
    from broker.demo.seed import seed

    settings = _settings(config, instance)
    with _database(settings):
        _ensure_schema(settings)
        if config is None:  # the demo instance: its catalogue exists from the first command on
            seed(db.session())
        try:
            action(db.session())
        except InputError as exc:
            db.session.rollback()
            _fail(f"refused: {exc}")


@contextmanager
def _database(settings: Settings) -> Iterator[None]:
    """An app context with only the database and the migrations, for commands on the database;
    its connections are closed at the end."""
    from broker import schema
    from broker.db import db
    from broker.db import sqlalchemy_url

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


def _ensure_schema(settings: Settings) -> None:
    from broker import schema
    from broker.db import is_embedded

    try:
        schema.ensure_current(upgrade_embedded=is_embedded(settings.database_url))
    except ConfigError as exc:
        _fail(str(exc))


# -- the database schema ---------------------------------------------------------------------

@main.group("db")
def database() -> None:
    """The database schema: migrations (Alembic, through Flask-Migrate)."""


@database.command("upgrade")
@click.option("--revision", default="head", show_default=True,
              help="The revision to go to; the default is the one this code needs.")
@_instance_option
@_config_option
def db_upgrade(revision: str, instance: Path, config: Path | None) -> None:
    """Bring the database (DATABASE_URL, or the instance's SQLite) to this code's schema.

    Run it before starting a new version of the broker; it is safe to run again."""
    from sqlalchemy.exc import SQLAlchemyError

    from broker import schema

    settings = _settings(config, instance)
    with _database(settings):
        before = schema.current()
        try:
            schema.upgrade(revision)
        except SQLAlchemyError as exc:
            _fail(f"upgrade failed, nothing changed past revision {schema.current() or 'none'}: "
                  f"{type(exc).__name__}: {exc.orig if hasattr(exc, 'orig') else exc}")
        after = schema.current()
    if before == after:
        click.echo(f"database already at revision {after}")
    else:
        click.echo(f"database upgraded from revision {before or 'none'} to {after}")


@database.command("current")
@_instance_option
@_config_option
def db_current(instance: Path, config: Path | None) -> None:
    """Show the database's schema revision and the one this code needs; exit 1 if they differ."""
    from broker import schema

    settings = _settings(config, instance)
    with _database(settings):
        found, needed, unversioned = schema.current(), schema.head(), schema.unversioned()
    state = found or ("tables without a recorded revision (made before migrations; "
                      "`broker db upgrade` adopts them)" if unversioned else "empty")
    click.echo(f"database: {state}; this code needs: {needed}")
    if found != needed:
        sys.exit(1)


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104


def _fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(1)


# -- the audit trail -------------------------------------------------------------------------


@main.group("audit")
def audit_group() -> None:
    """The hash-chained audit trail."""


@audit_group.command("verify")
@click.option("--head", "head", default=None, metavar="HASH",
              help="A head hash kept from an earlier verify: it must still be in the trail.")
@_instance_option
@_config_option
def audit_verify(head: str | None, instance: Path, config: Path | None) -> None:
    """Check the whole chain; name the first changed, removed or inserted entry.

    Exit status 0 when the trail is intact, 1 when it is broken.
    """
    from broker import audit

    if head is not None and not audit.is_hash(head.strip().lower()):
        raise click.BadParameter("64 hexadecimal digits", param_hint="--head")

    def run(session: Any) -> None:
        result = audit.verify(session, head=head)
        if result.ok:
            click.echo(f"audit trail intact: {result.checked} entries, head {result.head}")
            return
        where = f" at entry {result.first_broken}" if result.first_broken is not None else ""
        click.echo(f"audit trail broken{where}: {result.reason}")
        click.echo(f"  {result.checked} entries intact before it; last intact hash "
                   f"{result.head}")
        sys.exit(1)

    _with_database(instance, config, run)


@main.command("housekeeping")
@_instance_option
@_config_option
def housekeeping_command(instance: Path, config: Path | None) -> None:
    """Record logins that expired unfinished as abandoned, and remove expired state.

    Every broker process does this by itself every [broker] housekeeping_seconds; run this
    from cron when that is set to 0. Safe to run while brokers serve, and several at once.
    """
    from broker import housekeeping
    from broker.db import utcnow
    from broker.state import open_store

    def run(session: Any) -> None:
        store = open_store(_settings(config, instance), lambda: session)
        swept = housekeeping.sweep(lambda: session, store, utcnow)
        click.echo(f"abandoned logins recorded: {swept.abandoned}; expired state removed: "
                   f"{swept.expired_state}; form submission marks removed: "
                   f"{swept.submissions}")

    _with_database(instance, config, run)


@audit_group.command("show")
@click.option("--last", "last", default=20, show_default=True, type=click.IntRange(1, 100_000),
              help="How many of the newest entries.")
@_instance_option
@_config_option
def audit_show(last: int, instance: Path, config: Path | None) -> None:
    """Print the newest entries, oldest first, one line each."""
    from broker import audit

    def run(session: Any) -> None:
        for entry in reversed(audit.recent(session, last)):
            click.echo(entry.line())

    _with_database(instance, config, run)


@main.group("admin")
def administrators() -> None:
    """The broker's administrator accounts (they log in at /admin with a second factor)."""


def _accounts_service(session: Any, instance: Path, config: Path | None) -> Any:
    from broker.accounts.policy import AccountPolicy
    from broker.accounts.service import Accounts
    from broker.db import utcnow
    from broker.state import open_store

    settings = _settings(config, instance)
    return Accounts(lambda: session, open_store(settings, lambda: session),
                    AccountPolicy.from_settings(settings.accounts), utcnow, settings.secret_key)


@administrators.command("add")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of asking for it.")
@_instance_option
@_config_option
def admin_add(username: str, email: str, password_stdin: bool, instance: Path,
              config: Path | None) -> None:
    """Create an administrator; the second factor is set up at the first login."""
    password = (sys.stdin.readline().rstrip("\n") if password_stdin else
                click.prompt("Password", hide_input=True, confirmation_prompt=True))

    def add(session: Any) -> None:
        _accounts_service(session, instance, config).create(username, email, password,
                                                            by=_cli_actor())
        click.echo(f"administrator {username.strip().lower()} added; the second factor is "
                   "set up at the first login")

    _with_database(instance, config, add)


@administrators.command("list")
@_instance_option
@_config_option
def admin_list(instance: Path, config: Path | None) -> None:
    """Administrators with their second factor and lock status."""

    def show(session: Any) -> None:
        accounts = _accounts_service(session, instance, config)
        for account in accounts.all():
            until = accounts.guard.locked_until(account.username)
            factor = (f"second factor set up, {accounts.backup_codes_left(account.username)} "
                      "backup codes" if account.totp_confirmed_at else "no second factor yet")
            locked = f", locked until {until:%Y-%m-%d %H:%M} UTC" if until else ""
            click.echo(f"{account.username} <{account.email}>: {factor}{locked}")

    _with_database(instance, config, show)


@administrators.command("unlock")
@click.argument("username")
@click.option("--realm", default="admin", show_default=True,
              help="admin, or a mock identity provider (digid, eherkenning).")
@_instance_option
@_config_option
def admin_unlock(username: str, realm: str, instance: Path, config: Path | None) -> None:
    """Lift the lock of an account after too many wrong attempts."""
    from broker.accounts.guard import LoginGuard
    from broker.accounts.policy import AccountPolicy
    from broker.db import utcnow
    from broker.state import open_store

    def unlock(session: Any) -> None:
        if realm == "admin":
            was_locked = _accounts_service(session, instance, config).unlock(
                username, by=_cli_actor())
        else:
            settings = _settings(config, instance)
            store = open_store(settings, lambda: session)
            was_locked = LoginGuard(store, realm, AccountPolicy.from_settings(settings.accounts),
                                    utcnow).unlock(username)
            _audit_admin(session, "admin.account_unlocked", f"{realm}:{username}",
                         {"was_locked": was_locked})
            session.commit()
        click.echo(f"{realm}:{username} " + ("unlocked" if was_locked else "was not locked"))

    _with_database(instance, config, unlock)


@administrators.command("reset-second-factor")
@click.argument("username")
@_instance_option
@_config_option
def admin_reset_second_factor(username: str, instance: Path, config: Path | None) -> None:
    """Remove an administrator's TOTP secret and backup codes (set up again at next login)."""

    def reset(session: Any) -> None:
        _accounts_service(session, instance, config).reset_second_factor(username,
                                                                         by=_cli_actor())
        click.echo(f"{username}: second factor reset; it is set up again at the next login")

    _with_database(instance, config, reset)


def _cli_actor() -> str:
    """The audit trail's name for whoever runs this command: cli:<login name>."""
    import getpass

    return f"cli:{getpass.getuser()}"


def _audit_admin(session: Any, action: str, subject: str | None,
                 detail: dict[str, Any]) -> None:
    """Add an administrator's action to the trail; it commits with the change it describes."""
    from broker import audit

    audit.record(session, actor=_cli_actor(), action=action, subject=subject, detail=detail)


def _entity_id(document: bytes) -> str | None:
    """The entityID of SAML metadata, or None when unreadable (the registration refuses it)."""
    from broker.saml.xml import XmlError
    from broker.saml.xml import parse

    try:
        return parse(document).get("entityID")
    except XmlError:
        return None
