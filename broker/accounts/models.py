"""Tables of the accounts core: administrator accounts and backup codes.

Backup codes are keyed by (realm, username), so the same mechanism serves the broker's
administrators (realm ``admin``) and the mock identity providers' accounts (realm = the IdP's
name). Wrong attempts and locks live in the state store (:mod:`broker.accounts.guard`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from broker.clock import utcnow
from broker.db import Base

ADMIN_REALM = "admin"


class AdminAccount(Base):
    """An administrator of the broker: password plus a TOTP second factor."""

    __tablename__ = "admin_account"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(200))
    #: base32; None until set up. Set but unconfirmed while ``totp_confirmed_at`` is None.
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                               nullable=True)
    #: the last TOTP time step accepted, so that a code is never accepted twice
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                          default=utcnow)


class BackupCode(Base):
    """One one-time backup code, stored as an HMAC (never the code itself)."""

    __tablename__ = "backup_code"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    realm: Mapped[str] = mapped_column(String(40), index=True)
    username: Mapped[str] = mapped_column(String(100), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
