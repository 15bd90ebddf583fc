"""The authorization endpoint: who may be redirected to, and what a request must carry."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from broker.web.runtime import runtime
from tests.frontends.oidc.conftest import REDIRECT_URI
from tests.frontends.oidc.conftest import SERVICE
from tests.frontends.oidc.conftest import authorize_params
from tests.frontends.oidc.conftest import query


def _started(app: Flask) -> int:
    with app.test_request_context():
        return len(runtime().connectors["digid"].started)


def _assert_page_without_redirect(response: Any) -> None:
    assert 400 <= response.status_code < 500
    assert "Location" not in response.headers
    assert "text/html" in response.content_type


def _assert_error_redirect(response: Any, error: str) -> dict[str, str]:
    assert response.status_code in (302, 303)
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    params = query(location)
    assert params["error"] == error
    assert params["error_description"]
    assert params["state"] == "st-123"
    assert "code" not in params
    return params


def test_authorize_valid_request_starts_flow_at_connector(app: Flask, client: Any) -> None:
    response = client.get("/oidc/authorize", query_string=authorize_params())

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/fake-idp")
    assert _started(app) == 1
    with app.test_request_context():
        flow = runtime().connectors["digid"].started[0]
    assert flow.requester == "rp-pseudo"
    assert flow.service == SERVICE
    assert flow.min_loa == "substantial"
    assert flow.request["nonce"] == "n-456"


def test_authorize_acr_values_high_raises_minimum_level(app: Flask, client: Any) -> None:
    params = authorize_params(acr_values="http://eidas.europa.eu/LoA/high")

    client.get("/oidc/authorize", query_string=params)

    with app.test_request_context():
        assert runtime().connectors["digid"].started[0].min_loa == "high"


def test_authorize_unknown_client_shows_page_without_redirect(app: Flask, client: Any) -> None:
    response = client.get("/oidc/authorize",
                          query_string=authorize_params(client_id="rp-unknown"))

    _assert_page_without_redirect(response)
    assert _started(app) == 0


def test_authorize_missing_client_id_shows_page_without_redirect(app: Flask,
                                                                 client: Any) -> None:
    params = authorize_params()
    del params["client_id"]

    _assert_page_without_redirect(client.get("/oidc/authorize", query_string=params))
    assert _started(app) == 0


@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example.com/callback",
    REDIRECT_URI + "/",
    REDIRECT_URI + "?x=1",
    "https://RP.example.nl/callback",
    None,
])
def test_authorize_unregistered_redirect_uri_shows_page_without_redirect(
        app: Flask, client: Any, redirect_uri: str | None) -> None:
    response = client.get("/oidc/authorize",
                          query_string=authorize_params(redirect_uri=redirect_uri))

    _assert_page_without_redirect(response)
    assert "evil" not in response.get_data(as_text=True)
    assert _started(app) == 0


def test_authorize_without_code_challenge_redirects_invalid_request(app: Flask,
                                                                    client: Any) -> None:
    params = authorize_params(code_challenge=None, code_challenge_method=None)

    _assert_error_redirect(client.get("/oidc/authorize", query_string=params),
                           "invalid_request")
    assert _started(app) == 0


@pytest.mark.parametrize("method", ["plain", "S512", None])
def test_authorize_non_s256_challenge_redirects_invalid_request(app: Flask, client: Any,
                                                               method: str | None) -> None:
    params = authorize_params(code_challenge_method=method)

    _assert_error_redirect(client.get("/oidc/authorize", query_string=params),
                           "invalid_request")
    assert _started(app) == 0


@pytest.mark.parametrize("scope", [
    f"urn:uuid:{SERVICE}",
    "openid",
    "openid urn:uuid:00000000-0000-0000-0000-000000000000",
    f"openid urn:uuid:{SERVICE} urn:uuid:1373be8a-5091-5838-ac0d-b3234dc1fa5f",
])
def test_authorize_bad_scope_redirects_invalid_scope(app: Flask, client: Any,
                                                     scope: str) -> None:
    params = authorize_params(scope=scope)

    _assert_error_redirect(client.get("/oidc/authorize", query_string=params), "invalid_scope")
    assert _started(app) == 0


def test_authorize_without_nonce_redirects_invalid_request(app: Flask, client: Any) -> None:
    params = authorize_params(nonce=None)

    _assert_error_redirect(client.get("/oidc/authorize", query_string=params),
                           "invalid_request")
    assert _started(app) == 0


def test_authorize_token_response_type_redirects_unsupported(app: Flask, client: Any) -> None:
    params = authorize_params(response_type="id_token token")

    _assert_error_redirect(client.get("/oidc/authorize", query_string=params),
                           "unsupported_response_type")
    assert _started(app) == 0


def test_authorize_duplicated_parameter_redirects_invalid_request(app: Flask,
                                                                  client: Any) -> None:
    params = list(authorize_params().items()) + [("nonce", "second")]

    _assert_error_redirect(client.get("/oidc/authorize", query_string=params),
                           "invalid_request")
    assert _started(app) == 0


def test_authorize_by_post_form_starts_flow(app: Flask, client: Any) -> None:
    response = client.post("/oidc/authorize", data=authorize_params())

    assert response.status_code == 303
    assert _started(app) == 1
