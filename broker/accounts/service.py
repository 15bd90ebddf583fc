"""The broker's administrator accounts: create, log in in two steps, set up the second factor,
change password and e-mail, and the administrator's own powers (unlock, reset second factor).

Every refusal is an :class:`~broker.errors.InputError` in Dutch and English, raised before
anything changes (wrong attempts are counted, which is the point). Every change is recorded in
the audit trail in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import NoReturn

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from broker import audit
from broker.accounts import second_factor
from broker.accounts.backup_codes import BackupCodes
from broker.accounts.guard import Attempt
from broker.accounts.guard import LoginGuard
from broker.accounts.models import ADMIN_REALM
from broker.accounts.models import AdminAccount
from broker.accounts.policy import AccountPolicy
from broker.errors import InputError
from broker.state import StateStore

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}\Z", re.ASCII)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}\Z")
_hasher = PasswordHasher()  # argon2id, memory-hard
#: verified against when the username is unknown, so both cost the same time
_UNKNOWN = _hasher.hash("no such account")


class Accounts:
    def __init__(self, session: Callable[[], Session], store: StateStore, policy: AccountPolicy,
                 clock: Callable[[], datetime], secret_key: str) -> None:
        self._session, self._policy, self._clock = session, policy, clock
        self._key = secret_key
        self.guard = LoginGuard(store, ADMIN_REALM, policy, clock)
        self.backup_codes = BackupCodes(session, ADMIN_REALM, secret_key, clock)

    # -- looking up -------------------------------------------------------------------------

    def get(self, username: str) -> AdminAccount | None:
        return self._session().get(AdminAccount, username)

    def all(self) -> list[AdminAccount]:
        return list(self._session().scalars(select(AdminAccount).order_by(AdminAccount.username)))

    def backup_codes_left(self, username: str) -> int:
        return self.backup_codes.left(username)

    # -- creating ---------------------------------------------------------------------------

    def create(self, username: str, email: str, password: str, *, by: str) -> AdminAccount:
        username, email = username.strip().lower(), email.strip()
        if not _USERNAME.match(username):
            raise InputError("Een gebruikersnaam heeft 2 tot 64 tekens: kleine letters, cijfers "
                             "en . _ -", "A username has 2 to 64 characters: lower-case letters, "
                             "digits and . _ -")
        if self.get(username) is not None:
            raise InputError(f"De gebruikersnaam {username} bestaat al.", "The username "
                             f"{username} exists already.")
        self._check_email(email)
        self._check_new_password(password, password, username)
        account = AdminAccount(username=username, email=email,
                               password_hash=_hasher.hash(password), totp_last_step=0,
                               created_at=self._clock(), password_changed_at=self._clock())
        session = self._session()
        session.add(account)
        audit.record(session, actor=by, action="admin.account_created", subject=username)
        session.commit()
        return account

    # -- logging in -------------------------------------------------------------------------

    def check_password(self, username: str, password: str, address: str) -> AdminAccount:
        """Step one of the login. Raises AccountLocked / TooManyAttempts (from the guard) or
        InputError for a wrong username or password (the same message for both)."""
        username = username.strip().lower()
        attempt = self.guard.check(username, address)
        account = self.get(username)
        if not _password_matches(account.password_hash if account else _UNKNOWN, password) \
                or account is None:
            self._refuse(attempt, "Gebruikersnaam of wachtwoord klopt niet.",
                         "The username or password is not right.")
        self.guard.passed(attempt)  # the second factor completes the login
        return account

    def check_second_factor(self, username: str, code: str, address: str) -> str:
        """Step two: a TOTP code or an unused backup code. Returns "totp" or "backup"."""
        attempt = self.guard.check(username, address)
        account = self.get(username)
        if account is None or account.totp_secret is None or account.totp_confirmed_at is None:
            self.guard.passed(attempt)
            raise InputError("Er is geen tweede stap ingesteld.", "No second factor is set up.")
        step = second_factor.accepted_step(account.totp_secret, code, self._clock(),
                                           account.totp_last_step)
        session = self._session()
        if step is not None and self._advance_step(username, step):
            self.guard.succeeded(attempt)
            return "totp"
        if self.backup_codes.use(username, code):
            audit.record(session, actor=f"admin:{username}", action="admin.backup_code_used",
                         subject=username, detail={"left": self.backup_codes_left(username)})
            session.commit()
            self.guard.succeeded(attempt)
            return "backup"
        self._refuse(attempt, "Deze code klopt niet of is al gebruikt.",
                     "This code is not right or was used already.")

    def logged_in(self, username: str, method: str) -> None:
        session = self._session()
        audit.record(session, actor=f"admin:{username}", action="admin.logged_in",
                     subject=username, detail={"second_factor": method})
        session.commit()

    # -- the second factor ------------------------------------------------------------------

    def begin_totp(self, username: str) -> str:
        """A new, unconfirmed TOTP secret for ``username`` (replacing an unconfirmed one)."""
        account = self._existing(username)
        if account.totp_confirmed_at is not None:
            raise InputError("De tweede stap is al ingesteld.", "The second factor is set up "
                             "already.")
        if account.totp_secret is None:
            account.totp_secret = second_factor.new_totp_secret()
            self._session().commit()
        return account.totp_secret

    def confirm_totp(self, username: str, code: str, address: str) -> list[str]:
        """Confirm the secret with a first code; returns the backup codes, shown only now."""
        attempt = self.guard.check(username, address)
        account = self.get(username)
        if account is None or account.totp_secret is None or account.totp_confirmed_at is not None:
            self.guard.passed(attempt)
            raise InputError("Begin opnieuw met het instellen.", "Start the set-up again.")
        step = second_factor.accepted_step(account.totp_secret, code, self._clock(), 0)
        if step is None:
            self._refuse(attempt, "Deze code klopt niet. Kijk of de tijd op uw telefoon "
                         "goed staat.", "This code is not right. Check that the time on your "
                         "phone is correct.")
        session = self._session()
        confirmed = session.execute(AdminAccount.__table__.update().where(
            AdminAccount.username == username, AdminAccount.totp_confirmed_at.is_(None),
        ).values(totp_confirmed_at=self._clock(), totp_last_step=step or 0))
        if confirmed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()  # another request confirmed it at this moment
            self.guard.passed(attempt)
            raise InputError("De tweede stap is al ingesteld.", "The second factor is set up "
                             "already.")
        codes = self.backup_codes.replace(username)
        audit.record(session, actor=f"admin:{username}", action="admin.totp_set_up",
                     subject=username)
        session.commit()
        session.expire_all()
        self.guard.succeeded(attempt)
        return codes

    def new_backup_codes(self, username: str) -> list[str]:
        """Ten new backup codes; the old ones stop working."""
        codes = self.backup_codes.replace(username)
        audit.record(self._session(), actor=f"admin:{username}",
                     action="admin.backup_codes_renewed", subject=username)
        self._session().commit()
        return codes

    # -- changing one's own details ---------------------------------------------------------

    def change_password(self, username: str, current: str, new: str, repeated: str,
                        address: str) -> None:
        account = self._existing(username)
        attempt = self.guard.check(username, address)
        if not _password_matches(account.password_hash, current):
            self._refuse(attempt, "Het huidige wachtwoord klopt niet.",
                         "The current password is not right.")
        self.guard.passed(attempt)
        self._check_new_password(new, repeated, username)
        if _password_matches(account.password_hash, new):
            raise InputError("Kies een ander wachtwoord dan het huidige.", "Choose a password "
                             "other than the current one.")
        account.password_hash, account.password_changed_at = _hasher.hash(new), self._clock()
        audit.record(self._session(), actor=f"admin:{username}",
                     action="admin.password_changed", subject=username)
        self._session().commit()

    def change_email(self, username: str, password: str, email: str, address: str) -> None:
        account = self._existing(username)
        attempt = self.guard.check(username, address)
        if not _password_matches(account.password_hash, password):
            self._refuse(attempt, "Het wachtwoord klopt niet.", "The password is not right.")
        self.guard.passed(attempt)
        email = email.strip()
        self._check_email(email)
        account.email = email
        audit.record(self._session(), actor=f"admin:{username}", action="admin.email_changed",
                     subject=username)
        self._session().commit()

    # -- what one administrator does for another --------------------------------------------

    def unlock(self, username: str, *, by: str) -> bool:
        self._existing(username)
        was_locked = self.guard.unlock(username)
        audit.record(self._session(), actor=by, action="admin.account_unlocked",
                     subject=username, detail={"was_locked": was_locked})
        self._session().commit()
        return was_locked

    def reset_second_factor(self, username: str, *, by: str) -> None:
        """Remove the TOTP secret and backup codes; the account sets them up at next login."""
        account = self._existing(username)
        account.totp_secret = account.totp_confirmed_at = None
        account.totp_last_step = 0
        session = self._session()
        self.backup_codes.remove(username)
        audit.record(session, actor=by, action="admin.second_factor_reset", subject=username)
        session.commit()

    # -- inside -----------------------------------------------------------------------------

    def _existing(self, username: str) -> AdminAccount:
        account = self.get(username)
        if account is None:
            raise InputError(f"Onbekend account: {username[:64]}.", "Unknown account: "
                             f"{username[:64]}.")
        return account

    def _refuse(self, attempt: Attempt, nl: str, en: str) -> NoReturn:
        failure = self.guard.failed(attempt)
        if failure.left == 0:
            raise InputError(f"{nl} Het account is nu geblokkeerd.", f"{en} The account is now "
                             "locked.")
        raise InputError(f"{nl} Nog {failure.left} poging(en).", f"{en} {failure.left} "
                         "attempt(s) left.")

    def _advance_step(self, username: str, step: int) -> bool:
        """Remember ``step`` as used: one UPDATE, so of two requests with the same code only
        one succeeds."""
        session = self._session()
        result = session.execute(AdminAccount.__table__.update().where(
            AdminAccount.username == username, AdminAccount.totp_last_step < step,
        ).values(totp_last_step=step))
        session.commit()
        session.expire_all()
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def _check_new_password(self, password: str, repeated: str, username: str) -> None:
        if password != repeated:
            raise InputError("De wachtwoorden zijn niet gelijk.", "The passwords do not match.")
        if len(password) < self._policy.min_password_length or len(password) > 200:
            raise InputError(f"Een wachtwoord heeft ten minste {self._policy.min_password_length}"
                             " tekens.", "A password has at least "
                             f"{self._policy.min_password_length} characters.")
        if username in password.lower():
            raise InputError("Het wachtwoord mag de gebruikersnaam niet bevatten.", "The password "
                             "must not contain the username.")

    @staticmethod
    def _check_email(email: str) -> None:
        if not _EMAIL.match(email) or len(email) > 254:
            raise InputError("Vul een geldig e-mailadres in.", "Enter a valid e-mail address.")


def _password_matches(password_hash: str, password: str) -> bool:
    if len(password) > 200:
        return False
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False
