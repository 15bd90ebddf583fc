"""The relying parties of the flow tests: an authlib OIDC client and a pysaml2 SP.

Both are real protocol clients; they verify what they receive exactly as an integrating
service would, with keys fetched from the broker's JWKS or metadata.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.flows.browser import Arrival
from tests.flows.browser import Browser

OIDC_REDIRECT = "https://rp.test/callback"
INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"
TOESLAGEN = "1373be8a-5091-5838-ac0d-b3234dc1fa5f"
ZORGDOSSIER = "e00bfadf-3129-5f5d-88eb-63e4ca833c5d"


@dataclass
class OidcResult:
    claims: dict[str, Any]
    token: dict[str, Any]


class OidcRelyingParty:
    def __init__(self, broker_url: str, client_id: str, secret: str) -> None:
        self.broker_url = broker_url
        self.client = OAuth2Session(client_id, secret, scope="openid",
                                    redirect_uri=OIDC_REDIRECT, code_challenge_method="S256",
                                    token_endpoint_auth_method="client_secret_basic")
        self.verifier = secrets.token_urlsafe(48)
        self.nonce = secrets.token_urlsafe(16)
        self.state = ""

    def authorization_url(self, service: str, **params: str) -> str:
        url, self.state = self.client.create_authorization_url(
            f"{self.broker_url}/oidc/authorize", code_verifier=self.verifier, nonce=self.nonce,
            scope=f"openid urn:uuid:{service}", **params)
        return str(url)

    def finish(self, arrival: Arrival) -> OidcResult:
        assert arrival.method == "GET" and arrival.url.startswith(OIDC_REDIRECT), arrival
        query = parse_qs(urlsplit(arrival.url).query)
        assert "error" not in query, query
        assert query["state"] == [self.state]
        token = self.client.fetch_token(f"{self.broker_url}/oidc/token",
                                        authorization_response=arrival.url,
                                        code_verifier=self.verifier)
        keys = KeySet.import_key_set(requests.get(f"{self.broker_url}/oidc/jwks", timeout=10).json())
        decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256", "ES256"])
        claims = dict(decoded.claims)
        assert claims["iss"] == self.broker_url
        assert claims["aud"] in (self.client.client_id, [self.client.client_id])
        assert claims["nonce"] == self.nonce
        return OidcResult(claims=claims, token=dict(token))

    def error_of(self, arrival: Arrival) -> dict[str, list[str]]:
        assert arrival.method == "GET" and arrival.url.startswith(OIDC_REDIRECT), arrival
        return parse_qs(urlsplit(arrival.url).query)


def oidc_login(browser: Browser, rp: OidcRelyingParty, service: str, username: str,
               choose: str | None = None) -> Any:
    """Drive a whole login; returns the OIDC result, or the page/arrival where it stopped."""
    outcome = browser.open(rp.authorization_url(service))
    if isinstance(outcome, Arrival):
        return outcome
    outcome = browser.login_at_mock_digid(username)
    if choose is not None and not isinstance(outcome, Arrival):
        outcome = browser.submit("form.choices", button=("choice", choose))
    return outcome
