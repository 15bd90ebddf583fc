"""Errors after the request was validated go back to the relying party as OAuth errors."""

from __future__ import annotations

from typing import Any

from flask import Flask

from broker.errors import UpstreamCancelledError
from broker.web.runtime import runtime
from tests.fakes import fake_connector
from tests.frontends.oidc.conftest import REDIRECT_URI
from tests.frontends.oidc.conftest import authorize_params
from tests.frontends.oidc.conftest import query


def test_respond_error_redirects_with_error_and_state(app: Flask, client: Any) -> None:
    client.get("/oidc/authorize", query_string=authorize_params())
    with app.test_request_context():
        flow = fake_connector().started[-1]
        continuation = runtime().frontends["oidc"].respond_error(UpstreamCancelledError(), flow)

    assert continuation.method == "GET"
    assert continuation.url.startswith(REDIRECT_URI + "?")
    params = query(continuation.url)
    assert params == {"error": "access_denied", "error_description": "You cancelled logging in.",
                      "state": "st-123", "iss": "http://localhost"}
