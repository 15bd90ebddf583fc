"""The demo relying party, logging in through the OIDC frontend (its HTTP calls routed to the
test client instead of the network)."""

from __future__ import annotations

import base64
import stat
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from broker.app import csrf
from broker.demo import oidc_rp
from broker.demo import views
from broker.frontends.oidc.clients import find_client
from broker.identity import Link
from broker.identity import Party
from broker.web.runtime import runtime
from tests.frontends.oidc.conftest import SERVICE
from tests.frontends.oidc.conftest import authenticate
from tests.frontends.oidc.conftest import person


class _Reply:
    def __init__(self, response: Any) -> None:
        self.status_code = response.status_code
        self._body = response.get_json()

    def json(self) -> Any:
        return self._body


@pytest.fixture
def demo_app(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    app.register_blueprint(views.bp)
    app.register_blueprint(oidc_rp.create_blueprint(runtime().context, csrf))
    backend = app.test_client()

    def post(url: str, *, auth: tuple[str, str], data: dict[str, str], timeout: int) -> _Reply:
        assert timeout == 10
        basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return _Reply(backend.post(urlsplit(url).path, data=data,
                                   headers={"Authorization": f"Basic {basic}"}))

    def get(url: str, *, timeout: int) -> _Reply:
        return _Reply(backend.get(urlsplit(url).path))

    monkeypatch.setattr("broker.demo.oidc_rp.requests.post", post)
    monkeypatch.setattr("broker.demo.oidc_rp.requests.get", get)
    yield app


def _to_broker(client: FlaskClient) -> str:
    login = client.get(f"/demo/oidc/login?service={SERVICE}")
    assert login.status_code == 303
    target = urlsplit(login.headers["Location"])
    assert target.path == "/oidc/authorize"
    authorize = client.get(f"{target.path}?{target.query}")
    assert authorize.headers["Location"].endswith("/connect/digid/done")
    return target.query


def test_demo_rp_registers_itself_with_secret_file_0600(demo_app: Flask) -> None:
    registered = find_client(runtime().context.session(), "demo-rp")
    secret_file = runtime().context.settings.instance_path / oidc_rp.SECRET_FILE

    assert registered is not None and registered.may_receive_bsn
    assert registered.redirect_uris == ("http://localhost/demo/oidc/callback",)
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert registered.check_client_secret(secret_file.read_text())


def test_demo_rp_login_shows_who_acts_for_whom(demo_app: Flask, client: Any) -> None:
    query = _to_broker(client)
    assert "code_challenge_method=S256" in query and "nonce=" in query
    identity = person("999990676").acting_for(
        Link(party=Party(id="999993653", id_type="bsn"), mandate_id="m", kind="voluntary",
             services=(SERVICE,)))
    callback = urlsplit(authenticate(demo_app, identity))

    page = client.get(f"{callback.path}?{callback.query}&lang=en")

    assert page.status_code == 200, page.get_data(as_text=True)
    text = page.get_data(as_text=True)
    assert "Inkomstenbelasting" in text
    assert "999990676 (BSN)" in text and "999993653 (BSN)" in text
    assert "voluntary" in text and "substantial" in text


def test_demo_rp_callback_with_error_shows_error_page(demo_app: Flask, client: Any) -> None:
    query = _to_broker(client)
    state = dict(part.split("=", 1) for part in query.split("&"))["state"]

    page = client.get(f"/demo/oidc/callback?error=access_denied&state={state}")

    assert page.status_code == 400
    assert "access_denied" in page.get_data(as_text=True)


def test_demo_rp_callback_with_wrong_state_refused(demo_app: Flask, client: Any) -> None:
    _to_broker(client)
    authenticate(demo_app, person())

    page = client.get("/demo/oidc/callback?code=whatever&state=forged")

    assert page.status_code == 400
    assert "state_mismatch" in page.get_data(as_text=True)
