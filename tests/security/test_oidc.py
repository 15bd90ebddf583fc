"""Adversarial tests of the broker as OpenID Provider (catalogue section 4, LIB-16…18).

Every test crafts the malicious request itself and checks the refusal and that nothing was
issued: no flow started at the (fake) upstream, no code, no token, no redirect to an address
that was not registered, and where a token existed, that it stops working. The app is the OIDC
frontend tests' app (fake DigiD connector, demo services, three registered clients), built here
because this folder's ``app`` fixture is the SAML stub app.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from importlib.metadata import version
from typing import Any

import pytest
from authlib.oidc.core.util import create_half_hash
from flask import Flask
from flask import current_app
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwk import OctKey
from sqlalchemy.orm import Session

from broker.app import create_app
from broker.components import Components
from broker.config import Settings
from broker.demo.seed import seed
from broker.errors import InputError
from broker.frontends.oidc import register_client
from broker.frontends.oidc import tokens
from broker.web.database import db
from broker.web.runtime import runtime
from tests.fakes import FakeConnector
from tests.frontends.oidc.conftest import ACT_SECRET
from tests.frontends.oidc.conftest import BSN_SECRET
from tests.frontends.oidc.conftest import REDIRECT_URI
from tests.frontends.oidc.conftest import SECRET
from tests.frontends.oidc.conftest import Pkce
from tests.frontends.oidc.conftest import authenticate
from tests.frontends.oidc.conftest import authorize_params
from tests.frontends.oidc.conftest import basic
from tests.frontends.oidc.conftest import login
from tests.frontends.oidc.conftest import person
from tests.frontends.oidc.conftest import query
from tests.frontends.oidc.conftest import redeem
from tests.services import expire_state
from tests.services import stored_state

ISSUER = "http://localhost"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def config() -> dict[str, Any]:
    return {"broker": {"base_url": ISSUER, "allow_mock_connectors": True},
            "connectors": {"digid": {"type": "fake"}},
            "frontends": {"oidc": {"type": "oidc"}}}


@pytest.fixture
def oidc_app(settings: Settings) -> Iterator[Flask]:
    """The broker with the OIDC frontend, a fake DigiD, the demo services and three clients."""
    app = create_app(settings, Components(connectors={"fake": FakeConnector}))
    app.config["TESTING"] = True
    with app.app_context():
        seed(_session())
        register_client(_session(), client_id="rp-pseudo", redirect_uris=[REDIRECT_URI],
                        secret=SECRET)
        register_client(_session(), client_id="rp-bsn", redirect_uris=[REDIRECT_URI],
                        secret=BSN_SECRET, may_receive_bsn=True)
        register_client(_session(), client_id="rp-act", redirect_uris=[REDIRECT_URI],
                        secret=ACT_SECRET, claims_profile="act")
        register_client(_session(), client_id="rp-two",
                        redirect_uris=[REDIRECT_URI, "https://rp.example.nl/other"],
                        secret=SECRET)
        yield app


@pytest.fixture
def rp(oidc_app: Flask) -> Any:
    return oidc_app.test_client()


# --- helpers -------------------------------------------------------------------------------


def _session() -> Session:
    return db.session()  # type: ignore[no-any-return]


def _started() -> int:
    """How many flows the fake upstream was asked to start."""
    connector: FakeConnector = runtime().connectors["digid"]  # type: ignore[assignment]
    return len(connector.started)


def _stored(prefix: str) -> int:
    return len(stored_state(current_app, prefix))


def _nothing_issued() -> None:
    assert _started() == 0, "a flow was started"
    assert _stored(tokens.CODE_KEYS) == 0, "a code was issued"
    assert _stored(tokens.TOKEN_KEYS) == 0, "an access token was issued"


def _assert_error_page(response: Any) -> None:
    """A refusal shown to the person: no redirect anywhere, nothing issued."""
    assert response.status_code >= 400, response.status_code
    assert "Location" not in response.headers
    assert "Refresh" not in response.headers
    body = response.get_data(as_text=True)
    assert "attacker" not in body
    _nothing_issued()


def _assert_error_redirect(response: Any, error: str, state: str | None = "st-123") -> None:
    """An OAuth error to the registered redirect_uri, before any flow was started."""
    assert response.status_code in (302, 303)
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    answer = query(location)
    assert answer["error"] == error, answer
    assert "code" not in answer
    assert answer.get("state") == state
    _nothing_issued()


def _assert_no_tokens(response: Any) -> None:
    body = response.get_json() or {}
    assert "access_token" not in body and "id_token" not in body and "refresh_token" not in body
    assert _stored(tokens.TOKEN_KEYS) == 0


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _tokens(app: Flask, rp: Any, client_id: str = "rp-pseudo", secret: str = SECRET,
            **overrides: str | None) -> tuple[dict[str, Any], str]:
    """A complete login for ``client_id``: the token response and the code it came from."""
    pkce = Pkce()
    code = login(app, rp, person(), client_id=client_id, pkce=pkce, **overrides)["code"]
    response = redeem(rp, code, pkce, client_id=client_id, secret=secret)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json(), code


def _verified(rp: Any, id_token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(rp.get("/oidc/jwks").get_json())
    return dict(jwt.decode(id_token, keys, algorithms=["RS256", "ES256"]).claims)


def _header(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _token_form(code: str, pkce: Pkce) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": pkce.verifier}


def _expire(prefix: str) -> None:
    expire_state(current_app, prefix)


# --- OIDC-01 … OIDC-03: the return address -------------------------------------------------

REDIRECT_VARIANTS = {
    "trailing-slash": REDIRECT_URI + "/",
    "suffix-path": REDIRECT_URI + "/evil",
    "prefix-only": "https://rp.example.nl/call",
    "host-suffix": "https://rp.example.nl.attacker.test/callback",
    "extra-query": REDIRECT_URI + "?x=1",
    "fragment": REDIRECT_URI + "#x",
    "other-port": "https://rp.example.nl:8443/callback",
    "default-port-explicit": "https://rp.example.nl:443/callback",
    "http-scheme": "http://rp.example.nl/callback",
    "upper-case-host": "https://RP.example.nl/callback",
    "upper-case-path": "https://rp.example.nl/Callback",
    "userinfo": "https://rp.example.nl@attacker.test/callback",
    "userinfo-on-ours": "https://attacker.test@rp.example.nl/callback",
    "dot-segments": "https://rp.example.nl/callback/../evil",
    "encoded-dot-segments": "https://rp.example.nl/callback/%2e%2e/evil",
    "double-encoded": "https://rp.example.nl/callback/%252e%252e/evil",
    "encoded-char": "https://rp.example.nl/c%61llback",
    "backslash": "https://rp.example.nl\\@attacker.test/callback",
    "idn-homoglyph": "https://rр.example.nl/callback",  # noqa: RUF001 (Cyrillic 'р' on purpose)
    "whitespace": " " + REDIRECT_URI,
    "nul-byte": REDIRECT_URI + "\x00",
    "localhost": "http://localhost/callback",
    "loopback-ip": "http://127.0.0.1/callback",
    "empty": "",
}


@pytest.mark.parametrize("redirect_uri", REDIRECT_VARIANTS.values(), ids=REDIRECT_VARIANTS.keys())
def test_oidc_01_redirect_uri_variant_gets_error_page_without_redirect(
        rp: Any, redirect_uri: str) -> None:
    response = rp.get("/oidc/authorize", query_string=authorize_params(redirect_uri=redirect_uri))

    _assert_error_page(response)


def test_oidc_01_duplicate_redirect_uri_gets_error_page(rp: Any) -> None:
    params = authorize_params()
    query_string = [*params.items(), ("redirect_uri", "https://attacker.test/cb")]

    _assert_error_page(rp.get("/oidc/authorize", query_string=query_string))


@pytest.mark.parametrize("uri", [
    "https://rp.example.nl/cb#frag",
    "https://*.example.nl/cb",
    "http://rp.example.nl/cb",
    "javascript://rp.example.nl/%0aalert(1)",
    "rp.example.nl/cb",
])
def test_oidc_01_registration_refuses_unsafe_redirect_uri(oidc_app: Flask, uri: str) -> None:
    with pytest.raises(InputError):
        register_client(_session(), client_id="rp-new", redirect_uris=[uri], secret=SECRET)
    assert runtime().frontends["oidc"].find_client("rp-new") is None  # type: ignore[attr-defined]


def test_oidc_01_registration_refuses_redirect_uri_with_userinfo(oidc_app: Flask) -> None:
    with pytest.raises(InputError):
        register_client(_session(), client_id="rp-new",
                        redirect_uris=["https://rp.example.nl@attacker.test/cb"], secret=SECRET)


@pytest.mark.parametrize("bad", [
    {"scope": "openid profile"},                      # invalid scope
    {"scope": None},                                  # no scope
    {"response_type": "token"},                       # unsupported response type
    {"code_challenge": None},                         # PKCE missing
    {"prompt": "none"},                               # login_required would be redirected
    {"request": "e30.e30."},                          # request object
], ids=["invalid-scope", "no-scope", "response-type-token", "no-pkce", "prompt-none",
        "request-object"])
def test_oidc_02_later_error_with_unregistered_redirect_uri_is_not_redirected(
        rp: Any, bad: dict[str, str | None]) -> None:
    params = authorize_params(redirect_uri="https://attacker.test/cb")
    params.update({key: value for key, value in bad.items() if value is not None})
    for key in [key for key, value in bad.items() if value is None]:
        params.pop(key, None)

    _assert_error_page(rp.get("/oidc/authorize", query_string=params))


@pytest.mark.parametrize("client_id", ["rp-unknown", "", "../../etc", "x" * 300])
def test_oidc_02_unknown_client_is_not_redirected_even_to_a_registered_uri(
        rp: Any, client_id: str) -> None:
    params = authorize_params(client_id=client_id, response_type="token")

    _assert_error_page(rp.get("/oidc/authorize", query_string=params))


@pytest.mark.parametrize("client_id", ["rp-pseudo", "rp-two"])
def test_oidc_03_missing_redirect_uri_gets_error_page(rp: Any, client_id: str) -> None:
    params = authorize_params(client_id=client_id, redirect_uri=None)

    _assert_error_page(rp.get("/oidc/authorize", query_string=params))


# --- OIDC-05 … OIDC-11, LIB-16: PKCE and codes ----------------------------------------------


@pytest.mark.parametrize("client_id", ["rp-pseudo", "rp-bsn"])
def test_oidc_05_authorization_without_code_challenge_is_refused(rp: Any, client_id: str) -> None:
    params = authorize_params(client_id=client_id, code_challenge=None,
                              code_challenge_method=None)

    _assert_error_redirect(rp.get("/oidc/authorize", query_string=params), "invalid_request")


@pytest.mark.parametrize("method", ["plain", None, "s256", "S512", ""])
def test_oidc_06_code_challenge_method_other_than_s256_is_refused(
        rp: Any, method: str | None) -> None:
    pkce = Pkce()
    params = authorize_params(pkce=pkce, code_challenge_method=method)
    if method == "plain":
        params["code_challenge"] = pkce.verifier

    _assert_error_redirect(rp.get("/oidc/authorize", query_string=params), "invalid_request")


@pytest.mark.parametrize("suffix", ["\n", " ", "\r\n", "%"])
def test_oidc_05_code_challenge_with_a_trailing_newline_or_junk_is_refused(
        rp: Any, suffix: str) -> None:
    """``$`` in a Python pattern also matches before a final newline; the check must not."""
    params = authorize_params(pkce=Pkce())
    params["code_challenge"] += suffix

    _assert_error_redirect(rp.get("/oidc/authorize", query_string=params), "invalid_request")


def test_oidc_07_verifier_for_code_without_challenge_is_refused(
        oidc_app: Flask, rp: Any) -> None:
    """The downgrade: a code whose request carried no challenge, redeemed with a verifier.

    The authorization endpoint never issues such a code (OIDC-05), so it is planted directly.
    """
    store = runtime().context.store
    code = tokens.issue_code(
        store, client_id="rp-pseudo", redirect_uri=REDIRECT_URI, code_challenge="",
        scope="openid", nonce="n", identity=person().to_dict(), service="x",
        acr="http://eidas.europa.eu/LoA/substantial", auth_time=0)

    response = redeem(rp, code, Pkce())

    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_request", "invalid_grant")
    _assert_no_tokens(response)


@pytest.mark.parametrize("verifier", [
    "other-flow", "", "short", "a" * 129, "é" * 43, "a b" * 20,
])
def test_oidc_08_wrong_code_verifier_is_refused_and_code_spent(
        oidc_app: Flask, rp: Any, verifier: str) -> None:
    pkce = Pkce()
    code = login(oidc_app, rp, person(), pkce=pkce)["code"]
    wrong = Pkce().verifier if verifier == "other-flow" else verifier

    response = rp.post("/oidc/token", data=_token_form(code, pkce) | {"code_verifier": wrong},
                       headers=basic("rp-pseudo", SECRET))

    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_request", "invalid_grant")
    _assert_no_tokens(response)


def test_oidc_09_code_reuse_is_refused_and_revokes_the_first_token(
        oidc_app: Flask, rp: Any) -> None:
    pkce = Pkce()
    code = login(oidc_app, rp, person(), pkce=pkce)["code"]
    first = redeem(rp, code, pkce).get_json()
    assert rp.get("/oidc/userinfo", headers=_bearer(first["access_token"])).status_code == 200

    second = redeem(rp, code, pkce)

    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    assert not {"access_token", "id_token", "refresh_token"} & set(second.get_json())
    # the first token is revoked: its record stays until it expires, but it no longer works
    assert rp.get("/oidc/userinfo", headers=_bearer(first["access_token"])).status_code == 401
    assert redeem(rp, code, pkce).status_code == 400  # and a third time


def test_oidc_10_code_lives_at_most_sixty_seconds_and_expired_code_is_refused(
        oidc_app: Flask, rp: Any) -> None:
    pkce = Pkce()
    code = login(oidc_app, rp, person(), pkce=pkce)["code"]
    (stored,) = stored_state(oidc_app, tokens.CODE_KEYS).values()
    assert timedelta(0) < stored.left <= timedelta(seconds=60)
    _expire(tokens.CODE_KEYS)

    response = redeem(rp, code, pkce)

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    _assert_no_tokens(response)


@pytest.mark.parametrize(("client_id", "secret", "redirect_uri"), [
    ("rp-bsn", BSN_SECRET, REDIRECT_URI),                  # another client
    ("rp-pseudo", SECRET, "https://rp.example.nl/other"),   # another redirect_uri
    ("rp-pseudo", SECRET, REDIRECT_URI + "/"),
], ids=["other-client", "other-redirect-uri", "redirect-uri-trailing-slash"])
def test_oidc_11_code_is_bound_to_client_and_redirect_uri(
        oidc_app: Flask, rp: Any, client_id: str, secret: str, redirect_uri: str) -> None:
    pkce = Pkce()
    code = login(oidc_app, rp, person(), pkce=pkce)["code"]

    response = redeem(rp, code, pkce, client_id=client_id, secret=secret,
                      redirect_uri=redirect_uri)

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    _assert_no_tokens(response)


def test_oidc_11_code_without_redirect_uri_at_token_endpoint_is_refused(
        oidc_app: Flask, rp: Any) -> None:
    pkce = Pkce()
    code = login(oidc_app, rp, person(), pkce=pkce)["code"]
    form = _token_form(code, pkce)
    del form["redirect_uri"]

    response = rp.post("/oidc/token", data=form, headers=basic("rp-pseudo", SECRET))

    assert response.status_code == 400
    _assert_no_tokens(response)


def test_lib_16_confidential_client_needs_s256_pkce_at_both_endpoints(
        oidc_app: Flask, rp: Any) -> None:
    """authlib forces a verifier only for public clients; the broker does for every client."""
    pkce = Pkce()
    code = login(oidc_app, rp, person(), client_id="rp-bsn", pkce=pkce)["code"]
    form = _token_form(code, pkce)
    del form["code_verifier"]

    response = rp.post("/oidc/token", data=form, headers=basic("rp-bsn", BSN_SECRET))

    assert response.status_code == 400
    _assert_no_tokens(response)
    discovery = rp.get("/.well-known/openid-configuration").get_json()
    assert discovery["code_challenge_methods_supported"] == ["S256"]


# --- OIDC-12, OIDC-13: state and nonce ------------------------------------------------------


@pytest.mark.parametrize("state", [
    "a b&c=d%20e+f#g?h/\\'\"<script>é€😀", "x" * 2048, "=", "%00",
], ids=["special", "long", "equals", "percent-nul"])
def test_oidc_12_state_is_returned_byte_identical(oidc_app: Flask, rp: Any, state: str) -> None:
    answer = login(oidc_app, rp, person(), state=state)

    assert answer["state"] == state
    assert answer["code"]


def test_oidc_12_absent_state_is_not_invented(oidc_app: Flask, rp: Any) -> None:
    answer = login(oidc_app, rp, person(), state=None)

    assert "state" not in answer
    assert answer["code"]


def test_oidc_12_overlong_state_is_refused_before_any_flow(rp: Any) -> None:
    params = authorize_params(state="x" * 5000)

    response = rp.get("/oidc/authorize", query_string=params)

    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    assert query(response.headers["Location"])["error"] == "invalid_request"
    _nothing_issued()


def test_oidc_13_request_without_nonce_is_refused(rp: Any) -> None:
    params = authorize_params(nonce=None)

    _assert_error_redirect(rp.get("/oidc/authorize", query_string=params), "invalid_request")


def test_oidc_13_id_token_carries_exactly_its_own_flows_nonce(oidc_app: Flask, rp: Any) -> None:
    first, _ = _tokens(oidc_app, rp, nonce="nonce-of-flow-A")
    second, _ = _tokens(oidc_app, rp, nonce="nonce of flow B <é>")

    assert _verified(rp, first["id_token"])["nonce"] == "nonce-of-flow-A"
    assert _verified(rp, second["id_token"])["nonce"] == "nonce of flow B <é>"


# --- OIDC-14 … OIDC-16, OIDC-19, OIDC-23: what the broker signs and what it accepts ----------


def test_oidc_14_no_unsigned_or_symmetric_algorithm_is_advertised_or_used(
        oidc_app: Flask, rp: Any) -> None:
    discovery = rp.get("/.well-known/openid-configuration").get_json()
    assert set(discovery["id_token_signing_alg_values_supported"]) <= {"RS256", "ES256"}
    body, _ = _tokens(oidc_app, rp)

    header = _header(body["id_token"])

    assert header["alg"] == "RS256"
    kids = [key["kid"] for key in rp.get("/oidc/jwks").get_json()["keys"]]
    assert header["kid"] in kids
    assert body["id_token"].split(".")[2], "empty signature"


def test_oidc_14_client_assertion_with_alg_none_is_refused(oidc_app: Flask, rp: Any) -> None:
    pkce = Pkce()
    code = login(oidc_app, rp, person(), pkce=pkce)["code"]
    now = int(datetime.now(UTC).timestamp())
    assertion = (_b64({"alg": "none", "typ": "JWT"}) + "." + _b64(
        {"iss": "rp-pseudo", "sub": "rp-pseudo", "aud": ISSUER, "exp": now + 60,
         "jti": "j1"}) + ".")
    form = _token_form(code, pkce) | {"client_id": "rp-pseudo",
                                      "client_assertion_type": JWT_BEARER,
                                      "client_assertion": assertion}

    response = rp.post("/oidc/token", data=form)

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    _assert_no_tokens(response)


def test_oidc_15_jwks_holds_no_private_or_symmetric_key_material(rp: Any) -> None:
    keys = rp.get("/oidc/jwks").get_json()["keys"]

    assert {key["kty"] for key in keys} <= {"RSA", "EC"}
    for key in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & set(key), key
        assert key["use"] == "sig" and key["alg"] in ("RS256", "ES256")
    assert len({key["kid"] for key in keys}) == len(keys)


def test_oidc_15_client_assertion_hmac_with_brokers_public_key_is_refused(
        oidc_app: Flask, rp: Any) -> None:
    pkce = Pkce()
    code = login(oidc_app, rp, person(), pkce=pkce)["code"]
    public = rp.get("/oidc/jwks").get_json()["keys"][0]
    secret = OctKey.import_key(json.dumps(public).encode())
    now = int(datetime.now(UTC).timestamp())
    assertion = jwt.encode({"alg": "HS256"}, {"iss": "rp-pseudo", "sub": "rp-pseudo",
                                              "aud": ISSUER, "exp": now + 60, "jti": "j2"},
                           secret, algorithms=["HS256"])
    form = _token_form(code, pkce) | {"client_id": "rp-pseudo",
                                      "client_assertion_type": JWT_BEARER,
                                      "client_assertion": assertion}

    response = rp.post("/oidc/token", data=form)

    assert response.status_code == 401
    _assert_no_tokens(response)


def test_oidc_16_id_token_header_names_no_key_or_key_location(oidc_app: Flask, rp: Any) -> None:
    body, _ = _tokens(oidc_app, rp)

    header = _header(body["id_token"])

    assert set(header) == {"alg", "kid", "typ"}


def test_oidc_19_client_secret_jwt_and_short_secrets_are_refused(
        oidc_app: Flask, rp: Any) -> None:
    for secret in ("", "short"):
        with pytest.raises(InputError):
            register_client(_session(), client_id="rp-weak", redirect_uris=[REDIRECT_URI],
                            secret=secret)
    discovery = rp.get("/.well-known/openid-configuration").get_json()
    assert set(discovery["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post"}
    pkce = Pkce()
    code = login(oidc_app, rp, person(), pkce=pkce)["code"]
    now = int(datetime.now(UTC).timestamp())
    assertion = jwt.encode({"alg": "HS256"}, {"iss": "rp-pseudo", "sub": "rp-pseudo",
                                              "aud": ISSUER, "exp": now + 60, "jti": "j3"},
                           OctKey.import_key(SECRET), algorithms=["HS256"])
    form = _token_form(code, pkce) | {"client_id": "rp-pseudo",
                                      "client_assertion_type": JWT_BEARER,
                                      "client_assertion": assertion}

    response = rp.post("/oidc/token", data=form)

    assert response.status_code == 401
    _assert_no_tokens(response)


def test_oidc_23_id_token_claims_are_exact_and_pairwise_per_client(
        oidc_app: Flask, rp: Any) -> None:
    pseudo, _ = _tokens(oidc_app, rp)
    again, _ = _tokens(oidc_app, rp)
    act, _ = _tokens(oidc_app, rp, client_id="rp-two", secret=SECRET)
    claims = _verified(rp, pseudo["id_token"])

    assert claims["iss"] == ISSUER
    assert claims["aud"] == "rp-pseudo" and "azp" not in claims
    now = int(datetime.now(UTC).timestamp())
    assert claims["iat"] - 5 <= now <= claims["exp"] <= claims["iat"] + 600
    assert claims["nonce"] == "n-456"
    assert claims["acr"] == "http://eidas.europa.eu/LoA/substantial"
    assert "999993653" not in json.dumps(claims)
    assert claims["at_hash"] == create_half_hash(pseudo["access_token"], "RS256").decode()
    assert _verified(rp, again["id_token"])["sub"] == claims["sub"]
    assert _verified(rp, act["id_token"])["sub"] != claims["sub"]


# --- OIDC-21: client authentication at the token endpoint -----------------------------------


def _assert_invalid_client(response: Any) -> None:
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert "no-store" in response.headers.get("Cache-Control", "")
    _assert_no_tokens(response)


@pytest.mark.parametrize("how", [
    "wrong-secret", "unknown-client", "other-clients-secret", "none-method", "empty-secret",
    "secret-in-query-string", "basic-not-url-decoded-prefix", "secret-prefix",
])
def test_oidc_21_client_authentication_failure_is_refused(
        oidc_app: Flask, rp: Any, how: str) -> None:
    pkce = Pkce()
    code = login(oidc_app, rp, person(), pkce=pkce)["code"]
    form = _token_form(code, pkce)
    cases: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
        "wrong-secret": (form, basic("rp-pseudo", "x" * 40), ""),
        "unknown-client": (form, basic("rp-unknown", SECRET), ""),
        "other-clients-secret": (form, basic("rp-bsn", SECRET), ""),
        "none-method": (form | {"client_id": "rp-pseudo"}, {}, ""),
        "empty-secret": (form | {"client_id": "rp-pseudo", "client_secret": ""}, {}, ""),
        "secret-in-query-string": (form, {}, f"?client_id=rp-pseudo&client_secret={SECRET}"),
        "basic-not-url-decoded-prefix": (form, basic("rp-pseudo", SECRET[:-1]), ""),
        "secret-prefix": (form | {"client_id": "rp-pseudo", "client_secret": SECRET[:20]},
                          {}, ""),
    }
    data, headers, suffix = cases[how]

    _assert_invalid_client(rp.post("/oidc/token" + suffix, data=data, headers=headers))


def test_oidc_21_two_authentication_methods_at_once_are_refused(
        oidc_app: Flask, rp: Any) -> None:
    pkce = Pkce()
    code = login(oidc_app, rp, person(), pkce=pkce)["code"]
    form = _token_form(code, pkce) | {"client_id": "rp-pseudo", "client_secret": SECRET}

    response = rp.post("/oidc/token", data=form, headers=basic("rp-pseudo", SECRET))

    assert response.status_code in (400, 401)
    _assert_no_tokens(response)


# --- OIDC-24, OIDC-30, OIDC-32: what is switched off ----------------------------------------


def test_oidc_24_no_refresh_token_is_issued_or_accepted(oidc_app: Flask, rp: Any) -> None:
    body, _ = _tokens(oidc_app, rp)
    assert "refresh_token" not in body

    response = rp.post("/oidc/token", data={"grant_type": "refresh_token",
                                            "refresh_token": body["access_token"]},
                       headers=basic("rp-pseudo", SECRET))

    assert response.status_code in (400, 401)
    assert response.get_json()["error"] in ("unsupported_grant_type", "unauthorized_client")
    assert "access_token" not in response.get_json()


@pytest.mark.parametrize("response_type", [
    "token", "id_token", "id_token token", "code id_token", "code token", "code id_token token",
    "none", "code code", "",
])
def test_oidc_30_legacy_and_hybrid_response_types_are_refused(
        rp: Any, response_type: str) -> None:
    response = rp.get("/oidc/authorize",
                      query_string=authorize_params(response_type=response_type))

    _assert_error_redirect(response, "unsupported_response_type")
    assert "#" not in response.headers["Location"]


@pytest.mark.parametrize("grant_type", [
    "password", "client_credentials", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:device_code",
])
def test_oidc_30_other_grant_types_are_refused(rp: Any, grant_type: str) -> None:
    response = rp.post("/oidc/token", data={"grant_type": grant_type, "username": "999993653",
                                            "password": "demo", "scope": "openid"},
                       headers=basic("rp-pseudo", SECRET))

    assert response.status_code in (400, 401)
    assert response.get_json()["error"] in ("unsupported_grant_type", "unauthorized_client")
    _assert_no_tokens(response)


@pytest.mark.parametrize("mode", ["fragment", "form_post", "web_message", "jwt"])
def test_oidc_30_response_mode_cannot_move_the_code_out_of_the_query(
        oidc_app: Flask, rp: Any, mode: str) -> None:
    """``response_mode`` is not honoured (discovery: query only): a refusal before the flow,
    or the code in the query of the registered redirect_uri and nowhere else."""
    response = rp.get("/oidc/authorize", query_string=authorize_params(response_mode=mode))
    location = response.headers.get("Location", "")
    if location.startswith(REDIRECT_URI):
        assert query(location)["error"]
        _nothing_issued()
        return
    answer_url = _finish_last_flow(oidc_app)

    assert answer_url.startswith(REDIRECT_URI + "?") and "#" not in answer_url
    assert query(answer_url)["code"]


def _finish_last_flow(app: Flask) -> str:
    return authenticate(app, person())


def test_oidc_32_no_dynamic_registration_endpoint(rp: Any) -> None:
    discovery = rp.get("/.well-known/openid-configuration").get_json()
    assert "registration_endpoint" not in discovery

    for path in ("/oidc/register", "/oidc/registration", "/register"):
        response = rp.post(path, json={"redirect_uris": ["https://attacker.test/cb"]})
        assert response.status_code in (404, 405), path
    assert runtime().frontends["oidc"].find_client("attacker") is None  # type: ignore[attr-defined]


# --- OIDC-25, OIDC-26, OIDC-28, OIDC-29 -----------------------------------------------------


def test_oidc_25_authorization_response_names_the_issuer(oidc_app: Flask, rp: Any) -> None:
    discovery = rp.get("/.well-known/openid-configuration").get_json()
    answer = login(oidc_app, rp, person())
    error = rp.get("/oidc/authorize", query_string=authorize_params(nonce=None))

    assert answer["iss"] == ISSUER
    assert query(error.headers["Location"])["iss"] == ISSUER
    assert discovery["authorization_response_iss_parameter_supported"] is True


@pytest.mark.parametrize("headers", [
    {"Host": "attacker.test"},
    {"X-Forwarded-Host": "attacker.test", "X-Forwarded-Proto": "https"},
    {"Forwarded": "host=attacker.test;proto=https"},
], ids=["host", "x-forwarded-host", "forwarded"])
def test_oidc_26_discovery_urls_come_from_configuration_not_headers(
        rp: Any, headers: dict[str, str]) -> None:
    response = rp.get("/.well-known/openid-configuration", headers=headers)

    assert response.status_code == 200
    document = response.get_data(as_text=True)
    assert "attacker" not in document
    assert response.get_json()["issuer"] == ISSUER
    assert response.get_json()["jwks_uri"] == ISSUER + "/oidc/jwks"


def test_oidc_26_authorization_redirect_ignores_forwarded_host(oidc_app: Flask, rp: Any) -> None:
    response = rp.get("/oidc/authorize", query_string=authorize_params(),
                      headers={"X-Forwarded-Host": "attacker.test", "Host": "attacker.test"})
    assert "attacker" not in response.headers.get("Location", "")

    assert "attacker" not in _finish_last_flow(oidc_app)


@pytest.mark.parametrize("param", [
    {"request": _b64({"alg": "none"}) + "." + _b64(
        {"redirect_uri": "https://attacker.test/cb", "client_id": "rp-pseudo"}) + "."},
    {"request_uri": "http://127.0.0.1:9/internal"},
    {"request_uri": "urn:ietf:params:oauth:request_uri:abc"},
], ids=["unsigned-request-object", "request-uri-internal", "request-uri-par"])
def test_oidc_28_request_objects_are_refused(rp: Any, param: dict[str, str]) -> None:
    response = rp.get("/oidc/authorize", query_string=authorize_params() | param)

    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    assert query(response.headers["Location"])["error"] in (
        "request_not_supported", "request_uri_not_supported")
    _nothing_issued()
    discovery = rp.get("/.well-known/openid-configuration").get_json()
    assert discovery["request_parameter_supported"] is False
    assert discovery["request_uri_parameter_supported"] is False


def test_oidc_28_request_uri_gets_request_uri_not_supported(rp: Any) -> None:
    response = rp.get("/oidc/authorize",
                      query_string=authorize_params(request_uri="https://rp.example.nl/r"))

    assert query(response.headers["Location"])["error"] == "request_uri_not_supported"


@pytest.mark.parametrize("prompt", ["none", "none login", "consent none"])
def test_oidc_29_prompt_none_is_refused_with_login_required(rp: Any, prompt: str) -> None:
    response = rp.get("/oidc/authorize", query_string=authorize_params(prompt=prompt))

    _assert_error_redirect(response, "login_required")


# --- OIDC-31, OIDC-33: userinfo and token types ---------------------------------------------


def _assert_bearer_refusal(response: Any) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "sub" not in (response.get_json() or {})


def test_oidc_31_userinfo_answer_matches_id_token_and_is_not_cached(
        oidc_app: Flask, rp: Any) -> None:
    body, _ = _tokens(oidc_app, rp)

    response = rp.get("/oidc/userinfo", headers=_bearer(body["access_token"]))

    assert response.status_code == 200
    assert response.get_json()["sub"] == _verified(rp, body["id_token"])["sub"]
    assert "999993653" not in response.get_data(as_text=True)
    assert "no-store" in response.headers["Cache-Control"]


def test_oidc_31_token_response_is_not_cached(oidc_app: Flask, rp: Any) -> None:
    pkce = Pkce()
    code = login(oidc_app, rp, person(), pkce=pkce)["code"]

    response = redeem(rp, code, pkce)

    assert "no-store" in response.headers["Cache-Control"]
    assert "no-cache" in response.headers.get("Pragma", "")


@pytest.mark.parametrize("how", ["query-string", "expired", "revoked", "id-token", "garbage",
                                 "basic-scheme", "other-clients-code-replayed"])
def test_oidc_31_userinfo_refuses_bad_tokens_with_bearer_error(
        oidc_app: Flask, rp: Any, how: str) -> None:
    body, code = _tokens(oidc_app, rp)
    token = body["access_token"]
    headers: dict[str, str] = _bearer(token)
    url = "/oidc/userinfo"
    if how == "query-string":
        headers, url = {}, f"/oidc/userinfo?access_token={token}"
    elif how == "expired":
        _expire(tokens.TOKEN_KEYS)
    elif how == "revoked":
        redeem(rp, code, Pkce())
    elif how == "id-token":
        headers = _bearer(body["id_token"])
    elif how == "garbage":
        headers = _bearer(token[:-2] + "AA")
    elif how == "basic-scheme":
        headers = {"Authorization": f"Basic {token}"}
    elif how == "other-clients-code-replayed":
        other, other_code = _tokens(oidc_app, rp, client_id="rp-bsn", secret=BSN_SECRET)
        redeem(rp, other_code, Pkce(), client_id="rp-pseudo", secret=SECRET)
        headers = _bearer(other["access_token"])
        assert rp.get(url, headers=_bearer(token)).status_code == 200  # untouched

    response = rp.get(url, headers=headers)

    _assert_bearer_refusal(response)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"] or how == "query-string"


def test_oidc_31_userinfo_of_a_client_shows_only_that_clients_view(
        oidc_app: Flask, rp: Any) -> None:
    pseudo, _ = _tokens(oidc_app, rp)
    bsn, _ = _tokens(oidc_app, rp, client_id="rp-bsn", secret=BSN_SECRET)

    pseudo_view = rp.get("/oidc/userinfo", headers=_bearer(pseudo["access_token"])).get_json()
    bsn_view = rp.get("/oidc/userinfo", headers=_bearer(bsn["access_token"])).get_json()

    assert "999993653" not in json.dumps(pseudo_view)
    assert "999993653" in json.dumps(bsn_view)
    assert pseudo_view["sub"] == _verified(rp, pseudo["id_token"])["sub"]


def test_oidc_33_id_token_is_not_an_access_token_and_access_token_is_opaque(
        oidc_app: Flask, rp: Any) -> None:
    body, _ = _tokens(oidc_app, rp)

    assert body["access_token"].count(".") == 0
    assert body["access_token"] != body["id_token"]
    _assert_bearer_refusal(rp.get("/oidc/userinfo", headers=_bearer(body["id_token"])))
    assert _header(body["id_token"])["typ"] == "JWT"


# --- LIB-17, LIB-18 -------------------------------------------------------------------------


def test_lib_17_code_store_never_holds_usable_codes_or_tokens(oidc_app: Flask, rp: Any) -> None:
    """Codes and tokens are broker code (authlib leaves them open): stored only as digests."""
    body, code = _tokens(oidc_app, rp)
    stored = stored_state(oidc_app)
    keys = " ".join(stored)
    values = " ".join(entry.value for entry in stored.values())

    assert not any(key.startswith(tokens.CODE_KEYS) for key in stored)  # taken when redeemed
    assert any(key.startswith(tokens.TOKEN_KEYS) for key in stored)
    for secret in (code, body["access_token"]):
        assert secret not in keys and secret not in values


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def test_lib_18_authlib_and_joserfc_are_at_or_above_the_security_floor() -> None:
    assert _version_tuple(version("authlib")) >= (1, 6, 11)
    assert _version_tuple(version("joserfc")) >= (1, 1)
