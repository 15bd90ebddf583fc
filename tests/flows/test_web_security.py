"""Catalogue section 5 cases that need whole logins: session fixation, personal data in logs."""

import logging
import re
from typing import Any

import pytest

from broker.frontends.oidc.clients import register_client
from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import OIDC_REDIRECT
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import oidc_login
from tests.flows.test_portal import portal_login
from tests.flows.test_portal import portal_logout

DEMO_BSNS = ("999993653", "999990676", "999991772", "999992570", "999990019")


def test_web_03_portal_login_replaces_a_planted_session_and_logout_ends_it(
        browser: Browser) -> None:
    host = browser.broker_url.split("//")[1].split(":")[0]
    browser.session.cookies.set("broker_portal", "planted-by-an-attacker", domain=host, path="/")
    portal_login(browser, "jan")
    token = browser.session.cookies.get("broker_portal")
    assert token and token != "planted-by-an-attacker"
    portal_logout(browser)
    stale = Browser(browser.broker_url)
    stale.session.cookies.set("broker_portal", token, domain=host, path="/")
    page = stale.open(browser.broker_url + "/machtigen/geven")
    assert "Inloggen met DigiD" in page.text  # the old token no longer logs anyone in


def test_web_12_no_bsn_in_any_log_record_of_a_login_with_representation(
        browser: Browser, broker_db: Any, base_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    secret = register_client(broker_db, client_id="log-rp", redirect_uris=[OIDC_REDIRECT],
                             secret=None, may_receive_bsn=True)
    assert secret
    rp = OidcRelyingParty(base_url, "log-rp", secret)
    with caplog.at_level(logging.DEBUG):
        arrival = oidc_login(browser, rp, INKOMSTEN, "fatima", choose="bsn:999993653")
        assert isinstance(arrival, Arrival)
        assert rp.finish(arrival).claims["represents"]["sub"] == "999993653"
        portal_login(browser, "jan")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records, "the login should have logged something"
    leaked = [bsn for bsn in DEMO_BSNS if re.search(bsn, logged)]
    assert leaked == []
