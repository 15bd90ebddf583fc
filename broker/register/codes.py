"""Activation codes: random, readable aloud, shown once, stored only as an argon2 hash."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError

#: No 0/O, 1/I/L, 5/S, 8/B: a code read over the phone or copied from a letter survives.
ALPHABET = "ACDEFGHJKMNPQRTUVWXYZ2345679"
GROUPS, GROUP_LENGTH = 3, 4  # 12 characters from 28: about 57 bits

_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(raw[i:i + GROUP_LENGTH] for i in range(0, len(raw), GROUP_LENGTH))


def normalise(typed: str) -> str:
    """The code as a person may type it: any case, with or without dashes or spaces."""
    raw = "".join(ch for ch in typed.upper() if ch.isalnum())
    return "-".join(raw[i:i + GROUP_LENGTH] for i in range(0, len(raw), GROUP_LENGTH))


def hash_code(code: str) -> str:
    return _hasher.hash(normalise(code))


def matches(code_hash: str, typed: str) -> bool:
    try:
        return _hasher.verify(code_hash, normalise(typed))
    except (VerificationError, InvalidHashError):
        return False
