"""Whole logins: authlib OIDC client → broker → mock DigiD → broker → client."""

from typing import Any

import pytest

from broker.frontends.oidc.clients import register_client
from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import OIDC_REDIRECT
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import oidc_login


@pytest.fixture
def rp(broker_db: Any, base_url: str) -> OidcRelyingParty:
    secret = register_client(broker_db, client_id="test-rp", redirect_uris=[OIDC_REDIRECT],
                             secret=None, claims_profile="nlgov", may_receive_bsn=True)
    broker_db.commit()
    assert secret
    return OidcRelyingParty(base_url, "test-rp", secret)


def test_jan_logs_in_for_himself_and_the_client_gets_a_verified_id_token(
        browser: Browser, rp: OidcRelyingParty) -> None:
    arrival = oidc_login(browser, rp, INKOMSTEN, "jan")
    assert isinstance(arrival, Arrival), browser.text()
    result = rp.finish(arrival)
    assert result.claims["sub"] == "999993653"
    assert result.claims["acr"] == "http://eidas.europa.eu/LoA/substantial"
    assert "represents" not in result.claims
