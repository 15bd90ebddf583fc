"""Client authentication at the token endpoint: every failure is 401 invalid_client."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.frontends.oidc.conftest import REDIRECT_URI
from tests.frontends.oidc.conftest import SECRET
from tests.frontends.oidc.conftest import Pkce
from tests.frontends.oidc.conftest import basic
from tests.frontends.oidc.conftest import login
from tests.frontends.oidc.conftest import person
from tests.frontends.oidc.conftest import redeem


def _form(code: str, pkce: Pkce) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": pkce.verifier}


def _assert_invalid_client(response: Any) -> None:
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert "access_token" not in response.get_json()
    assert "id_token" not in response.get_json()


@pytest.mark.parametrize(("client_id", "secret"), [
    ("rp-pseudo", "x" * 40),          # wrong secret
    ("rp-unknown", SECRET),           # unknown client
    ("rp-bsn", SECRET),               # another client's secret
])
def test_token_basic_auth_failure_refused_and_code_kept(app: Flask, client: Any,
                                                        client_id: str, secret: str) -> None:
    pkce = Pkce()
    code = login(app, client, person(), pkce=pkce)["code"]

    _assert_invalid_client(client.post("/oidc/token", data=_form(code, pkce),
                                       headers=basic(client_id, secret)))

    assert redeem(client, code, pkce).status_code == 200


@pytest.mark.parametrize(("client_id", "secret"), [
    ("rp-pseudo", "x" * 40),
    ("rp-unknown", SECRET),
])
def test_token_post_auth_failure_refused_and_code_kept(app: Flask, client: Any,
                                                       client_id: str, secret: str) -> None:
    pkce = Pkce()
    code = login(app, client, person(), pkce=pkce)["code"]
    form = _form(code, pkce) | {"client_id": client_id, "client_secret": secret}

    _assert_invalid_client(client.post("/oidc/token", data=form))

    assert redeem(client, code, pkce).status_code == 200


def test_token_without_client_auth_refused(app: Flask, client: Any) -> None:
    pkce = Pkce()
    code = login(app, client, person(), pkce=pkce)["code"]

    _assert_invalid_client(client.post("/oidc/token",
                                       data=_form(code, pkce) | {"client_id": "rp-pseudo"}))


def test_token_post_auth_with_right_secret_gives_tokens(app: Flask, client: Any) -> None:
    pkce = Pkce()
    code = login(app, client, person(), pkce=pkce)["code"]
    form = _form(code, pkce) | {"client_id": "rp-pseudo", "client_secret": SECRET}

    response = client.post("/oidc/token", data=form)

    assert response.status_code == 200
    assert response.get_json()["id_token"]
