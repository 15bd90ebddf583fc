"""Going back, losing the cookie, replaying a step, waiting too long: a clear page, never a
stack trace, and nothing issued twice."""

from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from broker.flow import flow_key
from broker.frontends.oidc.clients import register_client
from broker.state import StateStore
from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import OIDC_REDIRECT
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import oidc_login

JAN = "999993653"


@pytest.fixture
def rp(broker_db: Any, base_url: str) -> OidcRelyingParty:
    secret = register_client(broker_db, client_id="errors-rp", redirect_uris=[OIDC_REDIRECT],
                             secret=None, may_receive_bsn=True)
    assert secret
    return OidcRelyingParty(base_url, "errors-rp", secret)


def _assert_flow_error_page(response: requests.Response | Arrival) -> None:
    assert isinstance(response, requests.Response), f"the browser left the broker: {response}"
    assert response.status_code == 400
    assert "Deze inlogpoging is verlopen of al afgerond" in response.text
    assert "Foutcode" in response.text and "Traceback" not in response.text


def test_back_button_to_the_chooser_after_completion_shows_a_clear_page(
        browser: Browser, rp: OidcRelyingParty) -> None:
    oidc_login(browser, rp, INKOMSTEN, "fatima")
    chooser_url = browser.last.url
    arrival = browser.submit("form.choices", button=("choice", "self"))
    assert isinstance(arrival, Arrival)
    page = browser.open(chooser_url)
    _assert_flow_error_page(page)


def test_replayed_choice_is_refused_and_issues_no_second_code(browser: Browser,
                                                              rp: OidcRelyingParty) -> None:
    oidc_login(browser, rp, INKOMSTEN, "fatima")
    form = browser.form("form.choices")
    token = form.xpath(".//input[@name='csrf_token']/@value")[0]
    url = urljoin(browser.last.url, form.get("action"))
    assert url.endswith("/choose")
    first = browser.session.post(url, data={"csrf_token": token, "choice": "self"},
                                 allow_redirects=False, timeout=10)
    assert first.status_code == 303 and first.headers["Location"].startswith(OIDC_REDIRECT)
    second = browser.session.post(url, data={"csrf_token": token, "choice": "self"},
                                  allow_redirects=False, timeout=10)
    _assert_flow_error_page(second)


def test_lost_cookie_cannot_continue_someone_elses_flow(browser: Browser, rp: OidcRelyingParty,
                                                        base_url: str) -> None:
    oidc_login(browser, rp, INKOMSTEN, "fatima")
    chooser_url = browser.last.url
    stranger = Browser(base_url)
    _assert_flow_error_page(stranger.open(chooser_url))
    # and the owner can still finish
    assert isinstance(browser.submit("form.choices", button=("choice", "self")), Arrival)


def test_expired_flow_shows_a_clear_page(browser: Browser, rp: OidcRelyingParty,
                                         live_app: Any) -> None:
    oidc_login(browser, rp, INKOMSTEN, "fatima")
    flow_id = browser.last.url.split("/flow/")[1].split("/")[0]
    store: StateStore = live_app.extensions["broker"].context.store
    with live_app.app_context():
        store.delete(flow_key(flow_id))  # what expiry does
    page = browser.session.get(browser.last.url, timeout=10)
    _assert_flow_error_page(page)


def test_replayed_upstream_response_is_refused(browser: Browser, rp: OidcRelyingParty) -> None:
    browser.open(rp.authorization_url(INKOMSTEN))
    captured: dict[str, Any] = {}
    original = browser._post

    def capture(url: str, fields: dict[str, str]) -> Any:
        if url.endswith("/connect/digid/acs"):
            captured.update(fields)
        return original(url, fields)

    browser._post = capture  # type: ignore[method-assign]
    arrival = browser.login_at_mock_digid("jan")
    assert isinstance(arrival, Arrival) and captured
    replay = browser.session.post(browser.broker_url + "/connect/digid/acs", data=captured,
                                  allow_redirects=False, timeout=10)
    assert replay.status_code == 400
    assert "Foutcode" in replay.text and "Location" not in replay.headers


def test_unknown_page_and_wrong_method_get_the_bilingual_page(browser: Browser) -> None:
    page = browser.session.get(browser.broker_url + "/no-such-page", timeout=10)
    assert page.status_code == 404 and "Deze pagina bestaat niet" in page.text
    page = browser.session.get(browser.broker_url + "/oidc/token", timeout=10)
    assert page.status_code == 405 and "Traceback" not in page.text


def test_every_page_carries_the_security_headers(browser: Browser) -> None:
    page = browser.session.get(browser.broker_url + "/", timeout=10)
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in page.headers  # plain http: no HSTS
