"""The authorization endpoint: who may be redirected to, and what a request must carry."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.fakes import fake_connector
from tests.frontends.oidc.conftest import REDIRECT_URI
from tests.frontends.oidc.conftest import SERVICE
from tests.frontends.oidc.conftest import authorize_params
from tests.frontends.oidc.conftest import query


def _started(app: Flask) -> int:
    with app.test_request_context():
        return len(fake_connector().started)


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
    assert response.headers["Location"].endswith("/connect/digid/done")
    assert _started(app) == 1
    with app.test_request_context():
        flow = fake_connector().started[0]
    assert flow.requester == "rp-pseudo"
    assert flow.service == SERVICE
    assert flow.min_loa == "substantial"
    assert flow.request["nonce"] == "n-456"


def test_authorize_acr_values_high_raises_minimum_level(app: Flask, client: Any) -> None:
    params = authorize_params(acr_values="http://eidas.europa.eu/LoA/high")

    client.get("/oidc/authorize", query_string=params)

    with app.test_request_context():
        assert fake_connector().started[0].min_loa == "high"


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


def _started_flow(app: Flask) -> Any:
    with app.test_request_context():
        [flow] = fake_connector().started
    return flow


def test_authorize_without_prompt_or_max_age_demands_no_fresh_authentication(
        app: Flask, client: Any) -> None:
    client.get("/oidc/authorize", query_string=authorize_params())

    flow = _started_flow(app)
    assert flow.force_authn is False and flow.max_age is None


@pytest.mark.parametrize("prompt", ["login", "login select_account"])
def test_authorize_prompt_login_demands_fresh_authentication(app: Flask, client: Any,
                                                             prompt: str) -> None:
    response = client.get("/oidc/authorize", query_string=authorize_params(prompt=prompt))

    assert response.status_code == 303
    flow = _started_flow(app)
    assert flow.force_authn is True and flow.max_age is None


@pytest.mark.parametrize("max_age,seconds", [("0", 0), ("1", 1), ("3600", 3600), ("", None)])
def test_authorize_max_age_demands_fresh_authentication_within_it(
        app: Flask, client: Any, max_age: str, seconds: int | None) -> None:
    """An empty max_age counts as absent (RFC 6749 3.1)."""
    response = client.get("/oidc/authorize", query_string=authorize_params(max_age=max_age))

    assert response.status_code == 303
    flow = _started_flow(app)
    assert flow.max_age == seconds and flow.force_authn is (seconds is not None)


@pytest.mark.parametrize("max_age", ["-1", "1.5", "abc", "+1", " 1", "1 ", "1\n", "0x10",
                                     "1_000", "\u0661"])
def test_authorize_malformed_max_age_redirects_invalid_request(app: Flask, client: Any,
                                                               max_age: str) -> None:
    params = authorize_params(max_age=max_age)

    _assert_error_redirect(client.get("/oidc/authorize", query_string=params),
                           "invalid_request")
    assert _started(app) == 0


def test_authorize_prompt_none_redirects_login_required(app: Flask, client: Any) -> None:
    params = authorize_params(prompt="none")

    _assert_error_redirect(client.get("/oidc/authorize", query_string=params), "login_required")
    assert _started(app) == 0


@pytest.mark.parametrize("prompt", ["create", "LOGIN", "login bogus"])
def test_authorize_unknown_prompt_value_redirects_invalid_request(app: Flask, client: Any,
                                                                  prompt: str) -> None:
    params = authorize_params(prompt=prompt)

    _assert_error_redirect(client.get("/oidc/authorize", query_string=params),
                           "invalid_request")
    assert _started(app) == 0


def test_authorize_prompt_consent_redirects_consent_required(app: Flask, client: Any) -> None:
    """The broker shows no consent page, so it cannot honour prompt=consent."""
    params = authorize_params(prompt="consent")

    _assert_error_redirect(client.get("/oidc/authorize", query_string=params),
                           "consent_required")
    assert _started(app) == 0


def test_authorize_prompt_select_account_is_an_ordinary_login(app: Flask, client: Any) -> None:
    """Every login already lets the person choose how to log in and on whose behalf."""
    response = client.get("/oidc/authorize",
                          query_string=authorize_params(prompt="select_account"))

    assert response.status_code == 303
    assert _started_flow(app).force_authn is False
