"""Relying parties of the OIDC frontend: registration, and the client as authlib sees it.

Secrets are stored only as SHA-256 hex digests and compared in constant time. A registration
is checked completely before anything is written; a refused one changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from broker.config_cache import UNCACHED
from broker.config_cache import ConfigCache
from broker.db import OidcClient
from broker.errors import InputError
from broker.frontends.oidc.claims import PROFILES

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
MIN_SECRET_LENGTH = 32
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{3,200}\Z")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisteredClient:
    """A registered relying party, detached from the database session.

    Implements the methods authlib's ``ClientMixin`` asks for: only confidential clients with
    ``client_secret_basic`` or ``client_secret_post``, only the authorization code grant.
    """

    client_id: str
    secret_hash: str
    redirect_uris: tuple[str, ...]
    claims_profile: str
    may_receive_bsn: bool
    name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.client_id

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # the redirect_uri is always required

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string match only: no prefixes, no wildcards, no normalisation."""
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, hash_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def find_client(session: Session, client_id: str,
                cache: ConfigCache = UNCACHED) -> RegisteredClient | None:
    """The registered client ``client_id``, or None (also for implausible ids); read through
    ``cache``."""
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        return None
    return cache.get(("oidc-client", client_id), lambda: _read(session, client_id))


def _read(session: Session, client_id: str) -> RegisteredClient | None:
    row = session.get(OidcClient, client_id)
    if row is None:
        return None
    return RegisteredClient(client_id=row.client_id, secret_hash=row.secret_hash,
                            redirect_uris=tuple(row.redirect_uris or ()),
                            claims_profile=row.claims_profile,
                            may_receive_bsn=bool(row.may_receive_bsn), name=row.name)


def register_client(session: Session, *, client_id: str, redirect_uris: list[str],
                    secret: str | None, claims_profile: str = "nlgov",
                    may_receive_bsn: bool = False, name: str | None = None) -> str | None:
    """Register (or update) a client. Returns the generated secret when none was given.

    Raises :class:`InputError`, before writing anything, for a malformed client id, a redirect
    URI that is not absolute, has a fragment or wildcard, or uses http on a non-loopback host,
    a secret shorter than 32 characters, or an unknown claims profile.
    """
    _check_client_id(client_id)
    if not redirect_uris:
        raise InputError("Geef minstens één redirect-URI op.", "Give at least one redirect URI.")
    for uri in redirect_uris:
        _check_redirect_uri(uri)
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        raise InputError(
            f"Het clientgeheim moet minstens {MIN_SECRET_LENGTH} tekens lang zijn.",
            f"The client secret must be at least {MIN_SECRET_LENGTH} characters long.")
    if claims_profile not in PROFILES:
        raise InputError(
            f"Onbekend claimsprofiel {claims_profile!r}; kies uit {', '.join(PROFILES)}.",
            f"Unknown claims profile {claims_profile!r}; choose from {', '.join(PROFILES)}.")
    if name is not None and not 1 <= len(name.strip()) <= 200:
        raise InputError("De naam moet 1 tot 200 tekens lang zijn.", "The name must be 1 to 200 "
                         "characters long.")
    generated = secrets.token_urlsafe(32) if secret is None else None
    row = session.get(OidcClient, client_id) or OidcClient(client_id=client_id)
    row.secret_hash = hash_secret(secret if secret is not None else generated or "")
    row.redirect_uris = list(redirect_uris)
    row.claims_profile = claims_profile
    row.may_receive_bsn = may_receive_bsn
    row.name = name.strip() if name else None
    session.add(row)
    session.commit()
    return generated


def _check_client_id(client_id: str) -> None:
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise InputError(
            "De client-id moet 3 tot 200 tekens lang zijn, alleen letters, cijfers en . _ : -.",
            "The client id must be 3 to 200 characters: letters, digits and . _ : - only.")


def _check_redirect_uri(uri: str) -> None:
    parts = urlsplit(uri) if isinstance(uri, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"Redirect-URI {uri!r} is geen absolute http(s)-URL.",
            f"Redirect URI {uri!r} is not an absolute http(s) URL.")
    if "#" in uri:
        raise InputError(
            f"Redirect-URI {uri!r} mag geen fragment (#) bevatten.",
            f"Redirect URI {uri!r} must not contain a fragment (#).")
    if parts.username is not None or parts.password is not None:
        raise InputError(
            f"Redirect-URI {uri!r} mag geen gebruikersnaam of wachtwoord (…@) bevatten.",
            f"Redirect URI {uri!r} must not contain a user name or password (…@).")
    if "*" in uri:
        raise InputError(
            f"Redirect-URI {uri!r} mag geen jokerteken (*) bevatten.",
            f"Redirect URI {uri!r} must not contain a wildcard (*).")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise InputError(
            f"Redirect-URI {uri!r} gebruikt http; dat mag alleen voor localhost. Gebruik https.",
            f"Redirect URI {uri!r} uses http, which is allowed only for localhost. Use https.")
