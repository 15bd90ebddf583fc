"""Stable eHerkenning employee pseudonyms for the mock identity provider and the demo seed.

Real eHerkenning gives each employee a pseudonym that is stable per organisation and reveals
nothing; observed form: 64 hex characters, '@', 32 hex characters. The mock derives it from the
organisation's KvK number and the account name, so every instance of the demo agrees.
"""

from __future__ import annotations

import hashlib


def employee_pseudonym(kvk: str, username: str) -> str:
    digest = hashlib.sha256(f"mock-eherkenning:{kvk}:{username}".encode()).hexdigest()
    issuer = hashlib.sha256(f"mock-eherkenning-ad:{kvk}".encode()).hexdigest()[:32]
    return f"{digest}@{issuer}"
