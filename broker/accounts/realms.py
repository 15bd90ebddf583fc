"""An account realm's login guard and backup codes on the running broker (the admin accounts,
each mock identity provider's accounts): built the same way wherever a login is checked or an
administrator resets one."""

from __future__ import annotations

from broker.accounts.backup_codes import BackupCodes
from broker.accounts.guard import LoginGuard
from broker.accounts.policy import AccountPolicy
from broker.context import BrokerContext


def login_guard(context: BrokerContext, realm: str) -> LoginGuard:
    return LoginGuard(context.store, realm, AccountPolicy.from_settings(context.settings.accounts),
                      context.clock)


def backup_codes(context: BrokerContext, realm: str) -> BackupCodes:
    """The one-time backup codes of a realm's accounts (a mock identity provider's)."""
    return BackupCodes(context.session, realm, context.settings.secret_key, context.clock)
