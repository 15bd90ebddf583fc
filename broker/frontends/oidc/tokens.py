"""Authorization codes and access tokens in the state store: single use, short-lived, hashed.

Only SHA-256 digests of codes and tokens are used as store keys, so the store never holds a
usable credential. Every presentation of a code adds one to the code's redemption counter (one
atomic increment, which lives ten times the code's lifetime): only the presentation that
counts 1 may take the code, and an access token is valid only while its code's counter stands
at 1. So presenting a code again revokes what it issued (RFC 6749 4.1.2), also when the two
presentations arrive at the same moment at two processes, whichever finishes first.
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

#: where authorization codes and access tokens are kept in the state store (by digest)
CODE_KEYS = "oidc-code:"
TOKEN_KEYS = "oidc-token:"  # noqa: S105  (a key prefix, not a secret)
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
    code: str  #: SHA-256 hex of the code the token was issued for


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def issue_code(store: StateStore, **fields: Any) -> str:
    """A fresh code (256 random bits) bound to ``fields`` (see :class:`IssuedCode`)."""
    code = secrets.token_urlsafe(32)
    record = IssuedCode(digest=digest(code), **fields)
    store.put(_code_key(record.digest), asdict(record), CODE_LIFETIME)
    return code


def redeem_code(store: StateStore, code: str) -> IssuedCode | None:
    """Take ``code``, if this is its first presentation; None for an unknown, expired or
    presented-again code. A presentation after the first one revokes the tokens issued for it
    (see :func:`find_access_token`). Only authenticated clients get here (the token endpoint
    authenticates the client first), so a stranger cannot fill the store with counters."""
    code_digest = digest(code)
    if store.incr(_redeemed_key(code_digest), USED_MARK_LIFETIME) > 1:
        log.warning("authorization code presented again; its access tokens are revoked")
        return None
    data = store.take(_code_key(code_digest))
    return IssuedCode(**data) if data is not None else None


def save_access_token(store: StateStore, token: str, grant: AccessGrant) -> None:
    """Keep ``token`` (hashed) for userinfo."""
    store.put(_token_key(digest(token)), asdict(grant), ACCESS_TOKEN_LIFETIME)


def find_access_token(store: StateStore, token: str) -> AccessGrant | None:
    """The grant of a live ``token`` whose code was presented exactly once."""
    data = store.get(_token_key(digest(token)))
    if data is None:
        return None
    grant = AccessGrant(**data)
    return grant if store.count(_redeemed_key(grant.code)) == 1 else None


def _code_key(code_digest: str) -> str:
    return CODE_KEYS + code_digest


def _redeemed_key(code_digest: str) -> str:
    return f"oidc-code-redeemed:{code_digest}"


def _token_key(token_digest: str) -> str:
    return TOKEN_KEYS + token_digest
