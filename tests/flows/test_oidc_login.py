"""Whole logins: authlib OIDC client → broker → mock DigiD → (chooser) → broker → client.

Every line of "What a tester should see" in the demo world for citizens, and the refusals.
"""

from typing import Any

import pytest

from broker.frontends.oidc.clients import register_client
from broker.register.models import Mandate
from broker.register.service import Register
from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import OIDC_REDIRECT
from tests.flows.rp import TOESLAGEN
from tests.flows.rp import ZORGDOSSIER
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import oidc_login

JAN, FATIMA, PIETER, HENK, NOOR = "999993653", "999990676", "999991772", "999992570", "999990019"


def _client(session: Any, base_url: str, client_id: str, **options: Any) -> OidcRelyingParty:
    secret = register_client(session, client_id=client_id, redirect_uris=[OIDC_REDIRECT],
                             secret=None, **options)
    session.commit()
    assert secret
    return OidcRelyingParty(base_url, client_id, secret)


@pytest.fixture
def rp(broker_db: Any, base_url: str) -> OidcRelyingParty:
    return _client(broker_db, base_url, "test-rp", claims_profile="nlgov", may_receive_bsn=True)


def _choices(browser: Browser) -> list[str]:
    return [button.get("value") for button in browser.form("form.choices").xpath(".//button")]


def test_jan_logs_in_for_himself_straight_through(browser: Browser, rp: OidcRelyingParty) -> None:
    arrival = oidc_login(browser, rp, INKOMSTEN, "jan")
    assert isinstance(arrival, Arrival), browser.text()
    claims = rp.finish(arrival).claims
    assert claims["sub"] == JAN
    assert claims["sub_id_type"] == "urn:nl-eid-gdi:1.0:id:BSN"
    assert claims["acr"] == "http://eidas.europa.eu/LoA/substantial"
    assert "represents" not in claims and "mandate" not in claims


def test_fatima_may_log_in_for_herself_or_for_jan(browser: Browser, rp: OidcRelyingParty) -> None:
    oidc_login(browser, rp, INKOMSTEN, "fatima")
    assert _choices(browser) == ["self", f"bsn:{JAN}"]
    assert "Jan Jansen" in browser.text()
    arrival = browser.submit("form.choices", button=("choice", f"bsn:{JAN}"))
    claims = rp.finish(arrival).claims
    assert claims["sub"] == FATIMA
    assert claims["represents"]["sub"] == JAN
    assert claims["mandate"]["kind"] == "voluntary"


def test_fatima_choosing_herself_gets_no_representation(browser: Browser,
                                                        rp: OidcRelyingParty) -> None:
    arrival = oidc_login(browser, rp, INKOMSTEN, "fatima", choose="self")
    claims = rp.finish(arrival).claims
    assert claims["sub"] == FATIMA and "represents" not in claims


def test_fatima_may_log_in_for_noor_at_zorgdossier(browser: Browser, rp: OidcRelyingParty) -> None:
    oidc_login(browser, rp, ZORGDOSSIER, "fatima")
    assert _choices(browser) == ["self", f"bsn:{NOOR}"]
    claims = rp.finish(browser.submit("form.choices", button=("choice", f"bsn:{NOOR}"))).claims
    assert claims["represents"]["sub"] == NOOR
    assert claims["mandate"]["kind"] == "legal"
    assert claims["mandate"]["role"] == "ouderlijk_gezag"


def test_pieter_may_log_in_for_henk_at_toeslagen(browser: Browser, rp: OidcRelyingParty) -> None:
    oidc_login(browser, rp, TOESLAGEN, "pieter")
    assert _choices(browser) == ["self", f"bsn:{HENK}"]
    claims = rp.finish(browser.submit("form.choices", button=("choice", f"bsn:{HENK}"))).claims
    assert claims["sub"] == PIETER and claims["represents"]["sub"] == HENK
    assert claims["mandate"]["role"] == "bewind"


def test_henk_is_refused_with_a_clear_page_and_the_client_gets_access_denied(
        browser: Browser, rp: OidcRelyingParty) -> None:
    outcome = oidc_login(browser, rp, INKOMSTEN, "henk")
    assert not isinstance(outcome, Arrival)
    assert outcome.status_code == 403
    assert "betrouwbaarheidsniveau" in browser.text() and "Foutcode" in browser.text()
    back = browser.page().xpath("//a[contains(@class, 'button')]/@href")
    assert len(back) == 1 and back[0].startswith(OIDC_REDIRECT)
    error = rp.error_of(Arrival("GET", back[0], {}))
    assert error["error"] == ["access_denied"] and error["state"] == [rp.state]


def test_act_profile_client_gets_the_represented_party_as_sub_and_the_actor_in_act(
        browser: Browser, broker_db: Any, base_url: str) -> None:
    rp = _client(broker_db, base_url, "act-rp", claims_profile="act", may_receive_bsn=True)
    arrival = oidc_login(browser, rp, INKOMSTEN, "fatima", choose=f"bsn:{JAN}")
    claims = rp.finish(arrival).claims
    assert claims["sub"] == JAN
    assert claims["act"]["sub"] == FATIMA
    assert "represents" not in claims


def test_client_without_bsn_permission_gets_pairwise_pseudonyms(
        browser: Browser, broker_db: Any, base_url: str) -> None:
    rp = _client(broker_db, base_url, "plain-rp", claims_profile="nlgov", may_receive_bsn=False)
    arrival = oidc_login(browser, rp, INKOMSTEN, "fatima", choose=f"bsn:{JAN}")
    claims = rp.finish(arrival).claims
    assert claims["sub"] not in (FATIMA, JAN) and JAN not in str(claims)
    assert claims["sub_id_type"] == "urn:nl-eid-gdi:1.0:id:pseudonym"
    assert claims["represents"]["sub"] != JAN


def test_crafted_choice_of_a_party_not_offered_is_refused(browser: Browser,
                                                          rp: OidcRelyingParty) -> None:
    oidc_login(browser, rp, INKOMSTEN, "fatima")
    outcome = browser.submit("form.choices", button=("choice", f"bsn:{HENK}"))
    assert not isinstance(outcome, Arrival) or "error" in rp.error_of(outcome)
    assert browser.last.status_code == 403
    assert "niet namens" in browser.text()


def test_revoked_mandate_never_appears_in_the_chooser(browser: Browser, rp: OidcRelyingParty,
                                                      broker_db: Any, live_app: Any) -> None:
    runtime = live_app.extensions["broker"]
    mandate = broker_db.query(Mandate).filter_by(represented_id=JAN, kind="voluntary").one()
    Register(broker_db, runtime.context.catalogue()).revoke(actor=JAN, mandate_id=mandate.id)
    arrival = oidc_login(browser, rp, INKOMSTEN, "fatima")
    assert isinstance(arrival, Arrival), browser.text()  # nothing left to choose: no page
    assert "represents" not in rp.finish(arrival).claims


def test_mandate_revoked_between_offer_and_choice_cannot_be_chosen(
        browser: Browser, rp: OidcRelyingParty, broker_db: Any, live_app: Any) -> None:
    oidc_login(browser, rp, INKOMSTEN, "fatima")
    runtime = live_app.extensions["broker"]
    mandate = broker_db.query(Mandate).filter_by(represented_id=JAN, kind="voluntary").one()
    Register(broker_db, runtime.context.catalogue()).revoke(actor=FATIMA, mandate_id=mandate.id)
    browser.submit("form.choices", button=("choice", f"bsn:{JAN}"))
    assert browser.last.status_code == 403


def test_expired_mandate_never_appears_in_the_chooser(browser: Browser, rp: OidcRelyingParty,
                                                      broker_db: Any) -> None:
    from datetime import UTC
    from datetime import datetime
    from datetime import timedelta

    mandate = broker_db.query(Mandate).filter_by(represented_id=JAN, kind="voluntary").one()
    mandate.valid_until = datetime.now(UTC) - timedelta(minutes=1)
    broker_db.commit()
    arrival = oidc_login(browser, rp, INKOMSTEN, "fatima")
    assert isinstance(arrival, Arrival), browser.text()
    assert "represents" not in rp.finish(arrival).claims
