"""Ketenmachtiging end to end: ruben of the administration office logs in at the mock
eHerkenning and acts for the bakery, a client of the office, through OIDC and SAML."""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from broker.frontends.oidc.clients import register_client
from broker.register.models import REVOKED
from broker.register.models import Mandate
from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import OIDC_REDIRECT
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import SamlServiceProvider

OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
BAKERY, OFFICE = "10000001", "20000002"
KVKNR = "urn:etoegang:1.9:EntityConcernedID:KvKnr"


@pytest.fixture
def rp(broker_db: Any, base_url: str) -> OidcRelyingParty:
    secret = register_client(broker_db, client_id="chain-rp", redirect_uris=[OIDC_REDIRECT],
                             secret=None, claims_profile="nlgov")
    broker_db.commit()
    assert secret
    return OidcRelyingParty(base_url, "chain-rp", secret)


@pytest.fixture
def sp(broker_db: Any, base_url: str, tmp_path: Path) -> SamlServiceProvider:
    return SamlServiceProvider(base_url, broker_db, tmp_path / "sp-keys", [OMZET])


def _ruben_at_chooser(browser: Browser, start_url: str) -> list[str]:
    outcome = browser.open(start_url)
    assert not isinstance(outcome, Arrival), outcome
    outcome = browser.login_at_mock_eherkenning("ruben")
    assert not isinstance(outcome, Arrival), "expected the chooser"
    return [b.get("value") for b in browser.form("form.choices").xpath(".//button")]


def test_ruben_chooses_the_bakery_and_the_rp_gets_the_chain_over_oidc(
        browser: Browser, rp: OidcRelyingParty) -> None:
    choices = _ruben_at_chooser(browser, rp.authorization_url(OMZET))
    assert sorted(choices) == [f"kvk:{OFFICE}", f"kvk:{OFFICE}/kvk:{BAKERY}"]
    assert "Administratiekantoor Telgen" in browser.text()
    assert "Bakkerij De Korenaar" in browser.text()
    arrival = browser.submit("form.choices", button=("choice", f"kvk:{OFFICE}/kvk:{BAKERY}"))
    claims = rp.finish(arrival).claims
    assert claims["represents"]["sub"] == OFFICE
    assert claims["represents"]["represents"]["sub"] == BAKERY
    assert claims["mandate"]["kind"] == "chain"


def test_ruben_chooses_the_bakery_and_the_sp_gets_etd_attributes_over_saml(
        browser: Browser, sp: SamlServiceProvider) -> None:
    _ruben_at_chooser(browser, sp.login_url(OMZET))
    attributes = sp.finish(browser.submit("form.choices",
                                          button=("choice", f"kvk:{OFFICE}/kvk:{BAKERY}")))
    assert attributes["urn:etoegang:core:LegalSubjectID"] == [f"{KVKNR}|{BAKERY}"]
    assert attributes["urn:etoegang:1.9:IntermediateEntityID:KvKnr"] == [OFFICE]


def test_revoked_chain_link_means_the_bakery_is_not_offered(
        browser: Browser, rp: OidcRelyingParty, broker_db: Any) -> None:
    chain = broker_db.execute(select(Mandate).where(Mandate.kind == "chain")).scalar_one()
    chain.state = REVOKED
    broker_db.commit()
    arrival = browser.open(rp.authorization_url(OMZET))
    arrival = browser.login_at_mock_eherkenning("ruben")
    assert isinstance(arrival, Arrival), "only the office is left: no chooser"
    claims = rp.finish(arrival).claims
    assert claims["represents"]["sub"] == OFFICE
    assert "represents" not in claims["represents"]


def test_crafted_choice_of_a_client_not_offered_is_refused(
        browser: Browser, rp: OidcRelyingParty) -> None:
    _ruben_at_chooser(browser, rp.authorization_url(OMZET))
    page = browser.submit("form.choices", button=("choice", f"kvk:{OFFICE}/kvk:30000003"))
    assert not isinstance(page, Arrival)
    assert page.status_code == 403, (page.status_code, browser.text()[:300])
    links = [a.get("href") for a in browser.page().cssselect("a.button")]
    assert any(href.startswith(OIDC_REDIRECT) and "error=access_denied" in href
               for href in links), links
