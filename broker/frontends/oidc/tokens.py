"""Authorization codes and access tokens in the state store: single use, short-lived, hashed.

Only SHA-256 digests of codes and tokens are used as store keys, so the store never holds a
usable credential. A redeemed code leaves a "used" mark (ten times the code's lifetime) that
lists the access tokens issued for it: presenting the code again revokes them (RFC 6749 4.1.2).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import asdict
from dataclasses import dataclass
from typing import Any

from broker.state import StateStore

log = logging.getLogger(__name__)

CODE_LIFETIME = 60
USED_MARK_LIFETIME = CODE_LIFETIME * 10
ACCESS_TOKEN_LIFETIME = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCode:
    """What an authorization code stands for; the methods are those authlib asks of a code."""

    digest: str  #: SHA-256 hex of the code itself
    client_id: str
    redirect_uri: str
    code_challenge: str
    scope: str
    nonce: str
    identity: dict[str, Any]
    service: str
    acr: str
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> None:
        return None  # NL GOV: amr MUST NOT be used


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessGrant:
    """What a live access token allows: the userinfo answer for one client and login."""

    client_id: str
    scope: str
    identity: dict[str, Any]
    service: str


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def issue_code(store: StateStore, **fields: Any) -> str:
    """A fresh code (256 random bits) bound to ``fields`` (see :class:`IssuedCode`)."""
    code = secrets.token_urlsafe(32)
    record = IssuedCode(digest=digest(code), **fields)
    store.put(_code_key(record.digest), asdict(record), CODE_LIFETIME)
    return code


def redeem_code(store: StateStore, code: str) -> IssuedCode | None:
    """Take ``code`` (single use). A second presentation revokes what the first one issued."""
    code_digest = digest(code)
    data = store.take(_code_key(code_digest))
    if data is None:
        _revoke_after_replay(store, code_digest)
        return None
    store.put(_used_key(code_digest), {"tokens": []}, USED_MARK_LIFETIME)
    return IssuedCode(**data)


def save_access_token(store: StateStore, token: str, grant: AccessGrant, code_digest: str) -> None:
    """Keep ``token`` (hashed) for userinfo, and note it on its code's used mark (which
    :func:`redeem_code` left empty: a code yields one token)."""
    token_digest = digest(token)
    store.put(_token_key(token_digest), asdict(grant), ACCESS_TOKEN_LIFETIME)
    # a code is redeemed once, so its mark lists this one token
    store.put(_used_key(code_digest), {"tokens": [token_digest]}, USED_MARK_LIFETIME)


def find_access_token(store: StateStore, token: str) -> AccessGrant | None:
    data = store.get(_token_key(digest(token)))
    return AccessGrant(**data) if data is not None else None


def _revoke_after_replay(store: StateStore, code_digest: str) -> None:
    mark = store.get(_used_key(code_digest))
    if mark is None:
        return
    for token_digest in mark.get("tokens", []):
        store.delete(_token_key(token_digest))
    log.warning("authorization code presented again; revoked %d access token(s)",
                len(mark.get("tokens", [])))


def _code_key(code_digest: str) -> str:
    return f"oidc-code:{code_digest}"


def _used_key(code_digest: str) -> str:
    return f"oidc-code-used:{code_digest}"


def _token_key(token_digest: str) -> str:
    return f"oidc-token:{token_digest}"
