"""The broker's administrator accounts: ``broker admin add|list|unlock|reset-second-factor``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from broker.cli.common import audit_admin
from broker.cli.common import cli_actor
from broker.cli.common import config_option
from broker.cli.common import instance_option
from broker.cli.common import settings_of
from broker.cli.common import with_database


@click.group("admin")
def administrators() -> None:
    """The broker's administrator accounts (they log in at /admin with a second factor)."""


def _accounts_service(session: Any, instance: Path, config: Path | None) -> Any:
    from broker.accounts.policy import AccountPolicy
    from broker.accounts.service import Accounts
    from broker.clock import utcnow
    from broker.state import open_store

    settings = settings_of(config, instance)
    return Accounts(lambda: session, open_store(settings, lambda: session),
                    AccountPolicy.from_settings(settings.accounts), utcnow, settings.secret_key)


@administrators.command("add")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of asking for it.")
@instance_option
@config_option
def admin_add(username: str, email: str, password_stdin: bool, instance: Path,
              config: Path | None) -> None:
    """Create an administrator; the second factor is set up at the first login."""
    password = (sys.stdin.readline().rstrip("\n") if password_stdin else
                click.prompt("Password", hide_input=True, confirmation_prompt=True))

    def add(session: Any) -> None:
        _accounts_service(session, instance, config).create(username, email, password,
                                                            by=cli_actor())
        click.echo(f"administrator {username.strip().lower()} added; the second factor is "
                   "set up at the first login")

    with_database(instance, config, add)


@administrators.command("list")
@instance_option
@config_option
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

    with_database(instance, config, show)


@administrators.command("unlock")
@click.argument("username")
@click.option("--realm", default="admin", show_default=True,
              help="admin, or a mock identity provider (digid, eherkenning).")
@instance_option
@config_option
def admin_unlock(username: str, realm: str, instance: Path, config: Path | None) -> None:
    """Lift the lock of an account after too many wrong attempts."""
    from broker.accounts.guard import LoginGuard
    from broker.accounts.policy import AccountPolicy
    from broker.clock import utcnow
    from broker.state import open_store

    def unlock(session: Any) -> None:
        if realm == "admin":
            was_locked = _accounts_service(session, instance, config).unlock(
                username, by=cli_actor())
        else:
            settings = settings_of(config, instance)
            store = open_store(settings, lambda: session)
            was_locked = LoginGuard(store, realm, AccountPolicy.from_settings(settings.accounts),
                                    utcnow).unlock(username)
            audit_admin(session, "admin.account_unlocked", f"{realm}:{username}",
                         {"was_locked": was_locked})
            session.commit()
        click.echo(f"{realm}:{username} " + ("unlocked" if was_locked else "was not locked"))

    with_database(instance, config, unlock)


@administrators.command("reset-second-factor")
@click.argument("username")
@instance_option
@config_option
def admin_reset_second_factor(username: str, instance: Path, config: Path | None) -> None:
    """Remove an administrator's TOTP secret and backup codes (set up again at next login)."""

    def reset(session: Any) -> None:
        _accounts_service(session, instance, config).reset_second_factor(username,
                                                                         by=cli_actor())
        click.echo(f"{username}: second factor reset; it is set up again at the next login")

    with_database(instance, config, reset)
