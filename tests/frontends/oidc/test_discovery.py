"""Discovery document and JWKS."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet

from broker import loa
from broker.frontends.oidc import OidcFrontend
from broker.web.runtime import runtime


def test_discovery_lists_endpoints_and_capabilities(app: Flask, client: Any) -> None:
    doc = client.get("/.well-known/openid-configuration").get_json()

    assert doc["issuer"] == "http://localhost"
    assert doc["authorization_endpoint"] == "http://localhost/oidc/authorize"
    assert doc["token_endpoint"] == "http://localhost/oidc/token"
    assert doc["userinfo_endpoint"] == "http://localhost/oidc/userinfo"
    assert doc["jwks_uri"] == "http://localhost/oidc/jwks"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post"}
    assert set(doc["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert set(doc["acr_values_supported"]) == set(loa.EIDAS_URI.values())
    assert "openid" in doc["scopes_supported"]
    assert "urn:uuid:92a383fd-f732-5aaf-af23-d9acf46c4c3a" in doc["scopes_supported"]
    assert len(doc["scopes_supported"]) == 5
    assert {"sub", "sub_id_type", "represents", "acr", "urn:nl-eid-gdi:1.0:ServiceUUID"} <= set(
        doc["claims_supported"])
    assert "urn:nl-eid-gdi:1.0:id:BSN" in doc["sub_id_types_supported"]


def test_jwks_holds_public_rsa_and_ec_keys_with_kid(app: Flask, client: Any) -> None:
    keys = client.get("/oidc/jwks").get_json()["keys"]

    by_alg = {key["alg"]: key for key in keys}
    assert set(by_alg) == {"RS256", "ES256"}
    assert by_alg["RS256"]["kty"] == "RSA"
    assert by_alg["ES256"]["kty"] == "EC" and by_alg["ES256"]["crv"] == "P-256"
    for key in keys:
        assert key["kid"] and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_signing_keys_sign_verifiable_with_published_jwks(app: Flask, client: Any,
                                                         alg: str) -> None:
    frontend = runtime().frontends["oidc"]
    assert isinstance(frontend, OidcFrontend)
    keys = KeySet.import_key_set(client.get("/oidc/jwks").get_json())

    token = jwt.decode(frontend.keys.sign({"sub": "x"}, alg), keys, algorithms=[alg])

    assert token.header["alg"] == alg and token.header["kid"]
    assert token.claims == {"sub": "x"}


def test_frontend_unknown_signing_alg_refused(app: Flask) -> None:
    with pytest.raises(ValueError, match="signing_alg"):
        OidcFrontend(name="oidc2", context=runtime().context, signing_alg="HS256")
