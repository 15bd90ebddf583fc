"""The OIDC frontend's signing keys (RS256, ES256), their JWKS, and the pairwise secret.

Keys come from :meth:`BrokerContext.key` (generated once in the instance folder, parsed once)
and are wrapped as joserfc keys here, once, when the frontend is built: never per request.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import RSAKey

from broker.context import BrokerContext

ALGORITHMS = ("RS256", "ES256")
PAIRWISE_SECRET_FILE = "oidc-pairwise-secret"  # noqa: S105 (a file name)


@dataclass(frozen=True)
class SigningKeys:
    """The private signing keys by JWS algorithm, each with its ``kid``."""

    by_alg: dict[str, RSAKey | ECKey]

    @classmethod
    def from_context(cls, context: BrokerContext) -> SigningKeys:
        rsa = RSAKey.import_key(context.key("oidc-rs256").private_key,  # type: ignore[arg-type]
                                parameters={"use": "sig", "alg": "RS256"})
        ec = ECKey.import_key(context.key("oidc-es256", "ec").private_key,  # type: ignore[arg-type]
                              parameters={"use": "sig", "alg": "ES256"})
        for key in (rsa, ec):
            key.ensure_kid()
        return cls(by_alg={"RS256": rsa, "ES256": ec})

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set: what relying parties verify ID tokens with."""
        return {"keys": [key.as_dict(private=False) for key in self.by_alg.values()]}

    def sign(self, claims: dict[str, Any], alg: str) -> str:
        """A compact JWS of ``claims`` signed with the key for ``alg``."""
        key = self.by_alg[alg]
        header = {"alg": alg, "kid": key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key, algorithms=[alg])


def pairwise_secret(instance_path: Path) -> bytes:
    """The secret behind pairwise pseudonyms: random, made once, kept 0600 in the instance."""
    path = instance_path / PAIRWISE_SECRET_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    value = secrets.token_bytes(32)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(value)
    return value
