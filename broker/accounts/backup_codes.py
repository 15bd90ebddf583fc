"""One-time backup codes per (realm, username), stored only as HMACs (see second_factor)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from broker.accounts import second_factor
from broker.accounts.models import BackupCode


class BackupCodes:
    def __init__(self, session: Callable[[], Session], realm: str, key: str,
                 clock: Callable[[], datetime]) -> None:
        self._session, self._realm, self._key, self._clock = session, realm, key, clock

    def replace(self, username: str) -> list[str]:
        """Ten new codes, as shown (the caller commits); the old ones stop working."""
        self.remove(username)
        codes = second_factor.new_backup_codes()
        self._session().add_all(
            BackupCode(realm=self._realm, username=username,
                       code_hash=second_factor.backup_code_hash(code, self._key))
            for code in codes)
        return [second_factor.shown(code) for code in codes]

    def use(self, username: str, code: str) -> bool:
        """Spend ``code``: one UPDATE that only a single caller can win."""
        result = self._session().execute(update(BackupCode).where(
            BackupCode.realm == self._realm, BackupCode.username == username,
            BackupCode.code_hash == second_factor.backup_code_hash(code, self._key),
            BackupCode.used_at.is_(None)).values(used_at=self._clock()))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def left(self, username: str) -> int:
        return int(self._session().scalar(select(func.count()).select_from(BackupCode).where(
            BackupCode.realm == self._realm, BackupCode.username == username,
            BackupCode.used_at.is_(None))) or 0)

    def remove(self, username: str) -> None:
        self._session().execute(delete(BackupCode).where(BackupCode.realm == self._realm,
                                                         BackupCode.username == username))
