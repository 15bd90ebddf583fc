"""Whole logins for businesses: relying party → broker → mock eHerkenning (authentication and
mandate register) → broker → relying party, through OIDC and through SAML."""

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from broker.frontends.oidc.claims import PSEUDONYM
from broker.frontends.oidc.clients import register_client
from broker.mock_idp.pseudonyms import employee_pseudonym
from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import OIDC_REDIRECT
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import SamlServiceProvider

OMZETBELASTING = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
BAKERY_KVK, BAKERY_RSIN, OFFICE_KVK = "10000001", "999990172", "20000002"
EVA = employee_pseudonym(BAKERY_KVK, "eva")
KVKNR = "urn:etoegang:1.9:EntityConcernedID:KvKnr"
PSEUDO = "urn:etoegang:1.13:EntityConcernedID:Pseudo"
SUBSTANTIAL = ("http://eidas.europa.eu/LoA/substantial", "urn:etoegang:core:assurance-class:loa3")


@pytest.fixture
def rp(broker_db: Any, base_url: str) -> OidcRelyingParty:
    secret = register_client(broker_db, client_id="business-rp", redirect_uris=[OIDC_REDIRECT],
                             secret=None, claims_profile="nlgov")
    broker_db.commit()
    assert secret
    return OidcRelyingParty(base_url, "business-rp", secret)


@pytest.fixture
def sp(broker_db: Any, base_url: str, tmp_path: Path) -> SamlServiceProvider:
    return SamlServiceProvider(base_url, broker_db, tmp_path / "sp-keys", [OMZETBELASTING])


def _login(browser: Browser, start_url: str, username: str) -> Any:
    outcome = browser.open(start_url)
    assert not isinstance(outcome, Arrival), outcome
    assert "eHerkenning" in browser.text()
    return browser.login_at_mock_eherkenning(username)


def _back_link_query(browser: Browser) -> dict[str, list[str]]:
    links = [a.get("href") for a in browser.page().cssselect("a.button")
             if (a.get("href") or "").startswith(OIDC_REDIRECT)]
    assert len(links) == 1, browser.text()
    return parse_qs(urlsplit(links[0]).query)


def test_eva_logs_in_for_the_bakery_straight_through_oidc(browser: Browser,
                                                          rp: OidcRelyingParty) -> None:
    arrival = _login(browser, rp.authorization_url(OMZETBELASTING), "eva")
    assert isinstance(arrival, Arrival), browser.text()
    claims = rp.finish(arrival).claims
    assert claims["sub_id_type"] == PSEUDONYM
    assert claims["sub"] != EVA  # the employee's pseudonym, made pairwise per client
    assert claims["represents"]["sub"] == BAKERY_KVK
    assert claims["represents"]["sub_id_type"] == "urn:nl-eid-gdi:1.0:id:KvKnr"
    assert claims["mandate"]["kind"] == "company"
    assert claims["acr"] in SUBSTANTIAL


def test_eva_logs_in_for_the_bakery_straight_through_saml(browser: Browser,
                                                          sp: SamlServiceProvider) -> None:
    arrival = _login(browser, sp.login_url(OMZETBELASTING), "eva")
    assert isinstance(arrival, Arrival), browser.text()
    attributes = sp.finish(arrival)
    assert attributes["urn:etoegang:core:LegalSubjectID"] == [f"{KVKNR}|{BAKERY_KVK}"]
    assert attributes["urn:etoegang:core:ActingSubjectID"] == [f"{PSEUDO}|{EVA}"]
    assert attributes["urn:etoegang:core:ServiceUUID"] == [OMZETBELASTING]
    assert attributes["_authn_context"] == ["urn:etoegang:core:assurance-class:loa3"]


def test_beheer_is_not_authorised_and_gets_a_clear_page_and_access_denied(
        browser: Browser, rp: OidcRelyingParty) -> None:
    page = _login(browser, rp.authorization_url(OMZETBELASTING), "beheer")
    assert not isinstance(page, Arrival)
    assert page.status_code == 403
    assert "niet gemachtigd voor deze dienst" in browser.text()
    assert _back_link_query(browser)["error"] == ["access_denied"]


def test_beheer_is_refused_over_saml_with_request_denied(browser: Browser,
                                                         sp: SamlServiceProvider) -> None:
    page = _login(browser, sp.login_url(OMZETBELASTING), "beheer")
    assert not isinstance(page, Arrival) and page.status_code == 403
    form = browser.form("form[method=post]")
    fields = {el.get("name"): el.get("value") for el in form.xpath(".//input[@name]")}
    status = sp.status_of(Arrival("POST", form.get("action"), fields))
    assert "RequestDenied" in status


def test_eva_asking_high_assurance_is_refused(browser: Browser, rp: OidcRelyingParty) -> None:
    url = rp.authorization_url(OMZETBELASTING, acr_values="http://eidas.europa.eu/LoA/high")
    page = _login(browser, url, "eva")
    assert not isinstance(page, Arrival)
    assert page.status_code == 403
    assert _back_link_query(browser)["error"] == ["access_denied"]


def test_ruben_is_offered_his_office(browser: Browser, rp: OidcRelyingParty) -> None:
    outcome = _login(browser, rp.authorization_url(OMZETBELASTING), "ruben")
    if isinstance(outcome, Arrival):  # the office is the only option
        claims = rp.finish(outcome).claims
        assert claims["represents"]["sub"] == OFFICE_KVK
        return
    choices = [b.get("value") for b in browser.form("form.choices").xpath(".//button")]
    assert f"kvk:{OFFICE_KVK}" in choices
    claims = rp.finish(browser.submit("form.choices",
                                      button=("choice", f"kvk:{OFFICE_KVK}"))).claims
    assert claims["sub_id_type"] == PSEUDONYM
    assert claims["represents"]["sub"] == OFFICE_KVK
    assert claims["mandate"]["kind"] == "company"
