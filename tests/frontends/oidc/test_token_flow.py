"""The authorization code flow end to end: codes, PKCE, client authentication, replay."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask import current_app
from joserfc import jwt
from joserfc.jwk import KeySet

from broker.frontends.oidc import tokens
from tests.frontends.oidc.conftest import REDIRECT_URI
from tests.frontends.oidc.conftest import Pkce
from tests.frontends.oidc.conftest import login
from tests.frontends.oidc.conftest import person
from tests.frontends.oidc.conftest import redeem
from tests.services import expire_state
from tests.services import stored_state


def _verified_claims(client: Any, id_token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(client.get("/oidc/jwks").get_json())
    return dict(jwt.decode(id_token, keys, algorithms=["RS256", "ES256"]).claims)


def _stored_tokens() -> int:
    return len(stored_state(current_app, tokens.TOKEN_KEYS))


def test_code_redeemed_with_right_verifier_gives_tokens(app: Flask, client: Any) -> None:
    pkce = Pkce()
    answer = login(app, client, person(), pkce=pkce)
    assert answer["state"] == "st-123"
    assert len(answer["code"]) >= 43

    response = redeem(client, answer["code"], pkce)

    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"].split()[0] == "openid"
    assert "no-store" in response.headers["Cache-Control"]
    claims = _verified_claims(client, body["id_token"])
    assert claims["iss"] == "http://localhost"
    assert claims["aud"] == "rp-pseudo"
    assert claims["nonce"] == "n-456"
    assert claims["acr"] == "http://eidas.europa.eu/LoA/substantial"
    assert claims["exp"] - claims["iat"] == 300
    assert {"nbf", "jti", "auth_time", "at_hash"} <= set(claims)
    userinfo = client.get("/oidc/userinfo",
                          headers={"Authorization": f"Bearer {body['access_token']}"})
    assert userinfo.status_code == 200
    assert userinfo.get_json()["sub"] == claims["sub"]
    assert "nonce" not in userinfo.get_json() and "aud" not in userinfo.get_json()


def test_code_presented_twice_refused_and_first_token_revoked(app: Flask, client: Any) -> None:
    pkce = Pkce()
    code = login(app, client, person(), pkce=pkce)["code"]
    first = redeem(client, code, pkce).get_json()
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert client.get("/oidc/userinfo", headers=bearer).status_code == 200

    second = redeem(client, code, pkce)

    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    assert "access_token" not in second.get_json()
    refused = client.get("/oidc/userinfo", headers=bearer)
    assert refused.status_code == 401  # revoked (its record stays until it expires)


def test_code_with_wrong_verifier_refused(app: Flask, client: Any) -> None:
    pkce = Pkce()
    code = login(app, client, person(), pkce=pkce)["code"]

    response = redeem(client, code, Pkce())

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert "access_token" not in response.get_json()
    assert _stored_tokens() == 0


def test_code_without_verifier_refused(app: Flask, client: Any) -> None:
    pkce = Pkce()
    code = login(app, client, person(), pkce=pkce)["code"]

    response = redeem(client, code, pkce, code_verifier="")

    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_request", "invalid_grant")
    assert _stored_tokens() == 0


def test_code_expired_refused(app: Flask, client: Any) -> None:
    pkce = Pkce()
    code = login(app, client, person(), pkce=pkce)["code"]
    expire_state(app, tokens.CODE_KEYS)

    response = redeem(client, code, pkce)

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert _stored_tokens() == 0


def test_code_with_other_redirect_uri_refused(app: Flask, client: Any) -> None:
    pkce = Pkce()
    code = login(app, client, person(), pkce=pkce)["code"]

    response = redeem(client, code, pkce, redirect_uri=REDIRECT_URI + "/other")

    assert response.get_json()["error"] == "invalid_grant"
    assert _stored_tokens() == 0


def test_code_redeemed_by_other_client_refused(app: Flask, client: Any) -> None:
    pkce = Pkce()
    code = login(app, client, person(), pkce=pkce)["code"]

    response = redeem(client, code, pkce, client_id="rp-bsn", secret="b" * 40)

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert _stored_tokens() == 0
