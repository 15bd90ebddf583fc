"""The account rules an operator may set in ``[accounts]``, with their allowed ranges."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields

#: [accounts] keys: (low, high) for each whole-number setting
RANGES = {
    "max_failures": (3, 20),
    "lockout_seconds": (60, 86400),
    "address_attempts": (5, 1000),
    "address_window_seconds": (60, 86400),
    "min_password_length": (12, 128),
}


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    #: wrong passwords or codes in a row before the account locks (the 5th locks it)
    max_failures: int = 5
    #: how long a lock lasts, unless an administrator lifts it earlier (the cool-down)
    lockout_seconds: int = 900
    #: login and code attempts per client address per window, over all accounts
    address_attempts: int = 30
    address_window_seconds: int = 900
    min_password_length: int = 12

    @classmethod
    def from_settings(cls, values: Mapping[str, int]) -> AccountPolicy:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})
