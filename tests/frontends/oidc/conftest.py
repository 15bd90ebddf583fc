"""An app with the OIDC frontend and a fake DigiD connector, and helpers to log in through it.

The fake connector stands in for the upstream: it records the flow it was asked to start, and
:func:`authenticate` finishes that flow the way a real connector's callback would (flows
.authenticated, then the login's finish step), so these tests exercise only the OIDC frontend.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask

from broker.components import Components
from broker.demo.seed import seed
from broker.frontends.oidc import register_client
from broker.identity import Identity
from broker.identity import Party
from broker.web.continuations import render_continuation
from broker.web.database import db
from broker.web.runtime import runtime
from tests.fakes import FakeConnector
from tests.fakes import fake_connector

SERVICE = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"  # Inkomstenbelasting, digid, substantial
REDIRECT_URI = "https://rp.example.nl/callback"
SECRET = "s" * 40
BSN_SECRET = "b" * 40
ACT_SECRET = "a" * 40


@pytest.fixture
def config() -> dict[str, Any]:
    return {"broker": {"base_url": "http://localhost", "allow_mock_connectors": True},
            "connectors": {"digid": {"type": "fake"}},
            "frontends": {"oidc": {"type": "oidc"}}}


@pytest.fixture
def components() -> Components:
    return Components(connectors={"fake": FakeConnector})


@pytest.fixture
def app(app: Flask) -> Iterator[Flask]:
    """The broker with the demo services and three registered clients."""
    seed(db.session())
    register_client(db.session(), client_id="rp-pseudo", redirect_uris=[REDIRECT_URI],
                    secret=SECRET)
    register_client(db.session(), client_id="rp-bsn", redirect_uris=[REDIRECT_URI],
                    secret=BSN_SECRET, may_receive_bsn=True)
    register_client(db.session(), client_id="rp-act", redirect_uris=[REDIRECT_URI],
                    secret=ACT_SECRET, claims_profile="act")
    yield app


def person(bsn: str = "999993653", loa: str = "substantial") -> Identity:
    return Identity(acting=Party(id=bsn, id_type="bsn", name="Jan Jansen"), loa=loa,
                    connector="digid", authn_instant=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
                    upstream_issuer="urn:mock:digid")


@dataclass
class Pkce:
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        return str(create_s256_code_challenge(self.verifier))


def authorize_params(client_id: str = "rp-pseudo", pkce: Pkce | None = None,
                     **overrides: str | None) -> dict[str, str]:
    pkce = pkce or Pkce()
    params: dict[str, str | None] = {
        "client_id": client_id, "redirect_uri": REDIRECT_URI, "response_type": "code",
        "scope": f"openid urn:uuid:{SERVICE}", "state": "st-123", "nonce": "n-456",
        "code_challenge": pkce.challenge, "code_challenge_method": "S256"}
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}


def query(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def authenticate(app: Flask, identity: Identity) -> str:
    """Finish the last flow the fake connector started as ``identity``; the redirect URL."""
    with app.test_request_context():
        connector = fake_connector()
        flow = connector.started[-1]
        runtime().context.flows.authenticated(flow, identity)
        response = render_continuation(runtime().login.finish(flow, identity))
    return str(response.headers["Location"])


def login(app: Flask, client: Any, identity: Identity, client_id: str = "rp-pseudo",
          pkce: Pkce | None = None, **overrides: str | None) -> dict[str, str]:
    """Authorize, authenticate: the query parameters the relying party receives."""
    response = client.get("/oidc/authorize", query_string=authorize_params(
        client_id, pkce, **overrides))
    assert response.status_code in (302, 303), response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/connect/digid/done")
    return query(authenticate(app, identity))


def basic(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def redeem(client: Any, code: str, pkce: Pkce, client_id: str = "rp-pseudo",
           secret: str = SECRET, **overrides: str) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": pkce.verifier, **overrides}
    return client.post("/oidc/token", data=data, headers=basic(client_id, secret))
