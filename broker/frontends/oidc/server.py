"""The token endpoint, built on authlib: AuthorizationServer + AuthorizationCodeGrant with the
OpenIDCode and CodeChallenge extensions.

authlib does client authentication (client_secret_basic / client_secret_post), checks the
grant type, the redirect_uri binding and (CodeChallenge) the S256 code_verifier, and builds the
token response with ``Cache-Control: no-store``. The broker supplies what authlib leaves open:
codes from the state store (single use, bound to the client, replay revokes), opaque access
tokens stored hashed, and an ID token built by :mod:`claims` and signed with :mod:`keys`.

The authorization endpoint does not go through authlib: the broker answers it in a later HTTP
request (after the upstream login), so :mod:`authorize` validates it and :mod:`tokens` issues
the code directly.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.util import create_half_hash
from flask import Response

from broker.frontends.oidc import claims
from broker.frontends.oidc import tokens
from broker.frontends.oidc.claims import Audience
from broker.frontends.oidc.clients import AUTH_METHODS
from broker.frontends.oidc.clients import RegisteredClient
from broker.frontends.oidc.keys import SigningKeys
from broker.identity import Identity
from broker.state import StateStore


class OidcServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's Flask AuthorizationServer wired to the broker's clients, store and keys."""

    def __init__(self, *, store: StateStore, keys: SigningKeys, issuer: str, alg: str,
                 pairwise_secret: bytes, query_client: Callable[[str], RegisteredClient | None],
                 clock: Callable[[], Any]) -> None:
        super().__init__(query_client=query_client, save_token=self._save_token)
        self.store, self.keys, self.issuer, self.alg = store, keys, issuer, alg
        self.pairwise_secret, self.clock = pairwise_secret, clock
        self.register_token_generator("default", _bearer_token)
        self.register_grant(CodeGrant, [IdToken(self), S256Challenge(required=True)])

    def audience(self, client: RegisteredClient) -> Audience:
        return Audience(client_id=client.client_id, may_receive_bsn=client.may_receive_bsn,
                        profile=client.claims_profile, pairwise_secret=self.pairwise_secret)

    def handle_error_response(self, request: OAuth2Request, error: Any) -> Response:
        """As authlib, but a failed client authentication is always 401 (RFC 6749 5.2)."""
        status, body, headers = error(self.get_error_uri(request, error))
        if error.error == "invalid_client":
            status = 401
            headers = [*headers, ("WWW-Authenticate", 'Basic realm="oidc"')]
        return self.handle_response(status, body, headers)  # type: ignore[no-any-return]

    def _save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        code: tokens.IssuedCode = request.authorization_code
        grant = tokens.AccessGrant(client_id=request.client.client_id, scope=code.scope,
                                   identity=code.identity, service=code.service,
                                   code=code.digest)
        tokens.save_access_token(self.store, token["access_token"], grant)


def _bearer_token(grant_type: str, client: RegisteredClient, user: Any = None,
                  scope: str | None = None, expires_in: int | None = None,
                  include_refresh_token: bool = True) -> dict[str, Any]:
    """An opaque access token (256 random bits); never a refresh token."""
    return {"token_type": "Bearer", "access_token": secrets.token_urlsafe(32),
            "expires_in": tokens.ACCESS_TOKEN_LIFETIME, "scope": scope or ""}


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    """Codes come from the state store: taken once, and only for the client they were for."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def query_authorization_code(self, code: str,
                                 client: RegisteredClient) -> tokens.IssuedCode | None:
        issued = tokens.redeem_code(self.server.store, code)
        if issued is None or issued.client_id != client.client_id:
            return None
        return issued

    def delete_authorization_code(self, authorization_code: tokens.IssuedCode) -> None:
        """Nothing to do: :meth:`query_authorization_code` already took the code."""

    def authenticate_user(self, authorization_code: tokens.IssuedCode) -> Identity:
        return Identity.from_dict(authorization_code.identity)


class S256Challenge(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only; the authorization endpoint refused every other method."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def get_authorization_code_challenge(self, authorization_code: tokens.IssuedCode) -> str:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self,
                                                authorization_code: tokens.IssuedCode) -> str:
        return "S256"


class IdToken(OpenIDCode):  # type: ignore[misc]
    """Adds the ID token to the token response, with the broker's claims and keys."""

    def __init__(self, server: OidcServer) -> None:
        super().__init__(require_nonce=True)
        self.server = server

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        server = self.server
        code: tokens.IssuedCode = request.authorization_code
        identity: Identity = request.user
        body = claims.identity_claims(identity, server.audience(request.client),
                                      issuer=server.issuer, service_uuid=code.service)
        id_token = claims.id_token_claims(
            body, issuer=server.issuer, client_id=code.client_id, nonce=code.nonce,
            auth_time=code.auth_time, acr_uri=code.acr, now=server.clock())
        at_hash = create_half_hash(token["access_token"], server.alg)
        if at_hash is not None:
            id_token["at_hash"] = at_hash.decode()
        return server.keys.sign(id_token, server.alg)

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # the authorization endpoint is the broker's own (see module docstring)
