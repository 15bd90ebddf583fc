"""From :class:`~broker.identity.Identity` to OIDC claims: pure functions, no Flask.

Two profiles, never mixed in one token:

- ``nlgov`` (default, OIDC NL GOV 1.0.1): ``sub`` is the acting person; ``represents`` nests
  the represented parties, first link outermost, final represented party deepest; the last
  link's mandate goes in a top-level ``mandate`` claim.
- ``act`` (RFC 8693): ``sub`` is the final represented party; ``act`` names the acting person,
  with the intermediaries nested inside it (least recent actor deepest).

A person's identifier (BSN or upstream pseudonym) becomes ``sub`` only for a client that may
receive the BSN; for any other client it becomes a pairwise pseudonym, the same for that client
on every login and unlinkable between clients. Organisation numbers (KvK, RSIN) are public.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from broker import loa
from broker.identity import Identity
from broker.identity import Link
from broker.identity import Party
from broker.saml import names

BSN = "urn:nl-eid-gdi:1.0:id:BSN"
PSEUDONYM = "urn:nl-eid-gdi:1.0:id:pseudonym"
KVK = "urn:nl-eid-gdi:1.0:id:KvKnr"
RSIN = "urn:nl-eid-gdi:1.0:id:RSIN"
SUB_ID_TYPES = (BSN, PSEUDONYM, KVK, RSIN)
SERVICE_UUID_CLAIM = names.ST_SERVICE_UUID  # the same name as a claim
PROFILES = ("nlgov", "act")
ID_TOKEN_LIFETIME = 300

#: Claims the frontend can put in a token or userinfo answer, for discovery.
CLAIMS_SUPPORTED = (
    "sub", "sub_id_type", "iss", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce",
    "acr", "represents", "mandate", "act", SERVICE_UUID_CLAIM,
)

_ORGANISATION_TYPES = {"kvk": KVK, "rsin": RSIN}


@dataclass(frozen=True, slots=True, kw_only=True)
class Audience:
    """What decides a client's claims: who it is and what it may see."""

    client_id: str
    may_receive_bsn: bool
    profile: str  #: "nlgov" | "act"
    pairwise_secret: bytes


def pairwise_pseudonym(secret: bytes, client_id: str, id_type: str, identifier: str) -> str:
    """base64url(HMAC-SHA256(secret, "client_id:id_type:id")), without padding."""
    message = f"{client_id}:{id_type}:{identifier}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def subject(party: Party, audience: Audience) -> dict[str, Any]:
    """``sub`` and ``sub_id_type`` for ``party`` as ``audience`` may see it."""
    organisation_type = _ORGANISATION_TYPES.get(party.id_type)
    if organisation_type is not None:
        return {"sub": party.id, "sub_id_type": organisation_type}
    if party.id_type == "bsn" and audience.may_receive_bsn:
        return {"sub": party.id, "sub_id_type": BSN}
    return {
        "sub": pairwise_pseudonym(audience.pairwise_secret, audience.client_id, party.id_type,
                                  party.id),
        "sub_id_type": PSEUDONYM,
    }


def identity_claims(identity: Identity, audience: Audience, *, issuer: str,
                    service_uuid: str) -> dict[str, Any]:
    """The claims about who logged in and for whom: ID token body and userinfo answer."""
    if audience.profile not in PROFILES:
        raise ValueError(f"unknown claims profile {audience.profile!r}")
    claims: dict[str, Any]
    if not identity.represents:
        claims = subject(identity.acting, audience)
    elif audience.profile == "act":
        claims = _act_claims(identity, audience)
    else:
        claims = subject(identity.acting, audience)
        claims["represents"] = _represents(identity.represents, audience,
                                           identity.upstream_issuer or issuer)
    if identity.represents:
        claims["mandate"] = mandate(identity.represents[-1])
    claims[SERVICE_UUID_CLAIM] = service_uuid
    return claims


def _represents(links: tuple[Link, ...], audience: Audience, issuer: str) -> dict[str, Any]:
    """Nested ``represents``: ``links[0]`` outermost, the final represented party deepest."""
    inner: dict[str, Any] | None = None
    for link in reversed(links):
        entry: dict[str, Any] = subject(link.party, audience) | {"iss": issuer}
        if inner is not None:
            entry["represents"] = inner
        inner = entry
    assert inner is not None
    return inner


def _act_claims(identity: Identity, audience: Audience) -> dict[str, Any]:
    """RFC 8693: the final party is ``sub``; the person acts, intermediaries nested inside."""
    *intermediaries, final = identity.represents
    actors = [identity.acting, *(link.party for link in intermediaries)]
    nested: dict[str, Any] | None = None
    for party in reversed(actors):
        entry: dict[str, Any] = subject(party, audience)
        if nested is not None:
            entry["act"] = nested
        nested = entry
    claims = subject(final.party, audience)
    claims["act"] = nested
    return claims


def mandate(link: Link) -> dict[str, Any]:
    """The ``mandate`` claim for the link that names the final represented party."""
    value: dict[str, Any] = {"kind": link.kind,
                             "services": [{"uuid": uuid} for uuid in link.services]}
    if link.role:
        value["role"] = link.role
    return value


def acr(identity: Identity) -> str:
    """The eIDAS (or Logius, for basic) URI of the level the person reached."""
    return loa.EIDAS_URI[identity.loa]


def id_token_claims(identity_part: dict[str, Any], *, issuer: str, client_id: str, nonce: str,
                    auth_time: int, acr_uri: str, now: datetime,
                    lifetime: int = ID_TOKEN_LIFETIME) -> dict[str, Any]:
    """The full ID token body: registered claims around ``identity_part``."""
    issued = int(now.timestamp())
    return {
        "iss": issuer,
        "aud": client_id,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(24),
        "auth_time": auth_time,
        "nonce": nonce,
        "acr": acr_uri,
        **identity_part,
    }
