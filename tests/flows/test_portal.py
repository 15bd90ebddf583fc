"""The mandate portal over HTTP: give, ask, activate, approve, revoke, and the bad inputs.

Each scenario ends where it matters: at the next login's chooser.
"""

from datetime import date
from datetime import timedelta
from typing import Any

import pytest

from broker.frontends.oidc.clients import register_client
from broker.register.models import Mandate
from tests.flows.browser import ACTIVATION_CODE
from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import OIDC_REDIRECT
from tests.flows.rp import TOESLAGEN
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import oidc_login

JAN, FATIMA, PIETER, HENK = "999993653", "999990676", "999991772", "999992570"
NEXT_YEAR = (date.today() + timedelta(days=365)).isoformat()


def portal_login(browser: Browser, username: str) -> None:
    browser.open(browser.broker_url + "/machtigen/")
    browser.submit("form[action$='/machtigen/inloggen']")
    browser.login_at_mock_digid(username)
    assert browser.last.url.endswith("/machtigen/"), browser.text()
    assert "Mijn machtigingen" in browser.text()


def portal_logout(browser: Browser) -> None:
    browser.open(browser.broker_url + "/machtigen/")
    browser.submit("form[action$='/machtigen/uitloggen']")


def give(browser: Browser, services: list[str], until: str = NEXT_YEAR) -> Any:
    browser.open(browser.broker_url + "/machtigen/geven")
    form = browser.form("form.stack")
    fields = {el.get("name"): el.get("value") for el in form.xpath(".//input[@type='hidden']")}
    body = list(fields.items()) + [("service", s) for s in services] + [("valid_until", until)]
    return browser.session.post(browser.broker_url + "/machtigen/geven", data=body, timeout=10)


def fill(browser: Browser, path: str, **data: str) -> Any:
    browser.open(browser.broker_url + path)
    return browser.submit("form.stack", data)


@pytest.fixture
def rp(broker_db: Any, base_url: str) -> OidcRelyingParty:
    secret = register_client(broker_db, client_id="portal-rp", redirect_uris=[OIDC_REDIRECT],
                             secret=None, may_receive_bsn=True)
    assert secret
    return OidcRelyingParty(base_url, "portal-rp", secret)


def _choices(browser: Browser) -> list[str]:
    return [b.get("value") for b in browser.form("form.choices").xpath(".//button")]


def test_portal_pages_need_a_login(browser: Browser) -> None:
    page = browser.open(browser.broker_url + "/machtigen/geven")
    assert "Inloggen met DigiD" in page.text


def test_jan_mandates_pieter_who_activates_and_then_may_log_in_for_jan(
        browser: Browser, rp: OidcRelyingParty) -> None:
    portal_login(browser, "jan")
    page = give(browser, [INKOMSTEN])
    assert page.status_code == 200
    code = ACTIVATION_CODE.search(page.text).group(0)
    portal_logout(browser)
    portal_login(browser, "pieter")
    page = fill(browser, "/machtigen/activeren", code=code.lower(), bsn=JAN,
                birth_date="1950-03-14")
    assert "De machtiging is actief" in browser.text()
    oidc_login(browser, rp, INKOMSTEN, "pieter")
    assert f"bsn:{JAN}" in _choices(browser)


@pytest.mark.parametrize(("services", "until", "message"), [
    ([], NEXT_YEAR, "ten minste één dienst"),
    ([INKOMSTEN], date.today().isoformat(), "tussen morgen en over 5 jaar"),
    ([INKOMSTEN], (date.today() + timedelta(days=6 * 365)).isoformat(), "over 5 jaar"),
    ([INKOMSTEN], "31-12-2027", "geldige einddatum"),
    (["e00bfadf-3129-5f5d-88eb-63e4ca833c5d"], NEXT_YEAR, "kan deze vorm"),
])
def test_bad_gift_is_refused_with_a_message_and_creates_nothing(
        browser: Browser, broker_db: Any, services: list[str], until: str, message: str) -> None:
    portal_login(browser, "jan")
    before = broker_db.query(Mandate).count()
    page = give(browser, services, until)
    assert page.status_code == 400 and message in page.text
    broker_db.expire_all()
    assert broker_db.query(Mandate).count() == before


def test_give_without_csrf_token_is_refused(browser: Browser, broker_db: Any) -> None:
    portal_login(browser, "jan")
    before = broker_db.query(Mandate).count()
    page = browser.session.post(browser.broker_url + "/machtigen/geven",
                                data={"service": INKOMSTEN, "valid_until": NEXT_YEAR}, timeout=10)
    assert page.status_code == 400 and "verlopen" in page.text
    assert broker_db.query(Mandate).count() == before


@pytest.mark.parametrize("wrong", ["code", "bsn", "birth_date"])
def test_wrong_activation_gets_one_message_whatever_was_wrong(browser: Browser,
                                                              wrong: str) -> None:
    portal_login(browser, "jan")
    code = ACTIVATION_CODE.search(give(browser, [INKOMSTEN]).text)
    portal_logout(browser)
    portal_login(browser, "pieter")
    data = {"code": code.group(0), "bsn": JAN, "birth_date": "1950-03-14"}
    data[wrong] = {"code": "AAAA-AAAA-AAAA", "bsn": HENK, "birth_date": "1950-03-15"}[wrong]
    fill(browser, "/machtigen/activeren", **data)
    assert browser.last.status_code == 400
    assert "De combinatie van BSN, geboortedatum en activeringscode klopt niet" in browser.text()


def test_activation_with_a_bsn_failing_the_eleven_test_explains_why(browser: Browser) -> None:
    portal_login(browser, "pieter")
    fill(browser, "/machtigen/activeren", code="AAAA-AAAA-AAAA", bsn="123456788",
         birth_date="1950-03-14")
    assert browser.last.status_code == 400 and "elfproef" in browser.text()


def test_fatima_asks_henk_who_reads_the_letter_and_approves(
        browser: Browser, rp: OidcRelyingParty) -> None:
    portal_login(browser, "fatima")
    fill(browser, "/machtigen/aanvragen", bsn=HENK, birth_date="1941-01-20",
         service=TOESLAGEN, valid_until=NEXT_YEAR)
    assert "Uw aanvraag is verstuurd" in browser.text()
    portal_logout(browser)
    portal_login(browser, "henk")
    browser.open(browser.broker_url + "/machtigen/brievenbus")
    assert "Fatima El Amrani vraagt u om een machtiging voor: Toeslagen" in browser.text()
    browser.open(browser.broker_url + "/machtigen/")
    link = browser.page().xpath("//div[contains(@class,'panel-note')]//a/@href")[0]
    browser.open(browser.broker_url + link)
    browser.submit("form[action$='/goedkeuren']")
    assert "Actief" in browser.text()
    portal_logout(browser)
    oidc_login(browser, rp, TOESLAGEN, "fatima")
    assert f"bsn:{HENK}" in _choices(browser)


def test_asking_with_a_wrong_birth_date_is_refused_and_sends_no_letter(
        browser: Browser, broker_db: Any) -> None:
    portal_login(browser, "fatima")
    fill(browser, "/machtigen/aanvragen", bsn=HENK, birth_date="1941-01-21",
         service=TOESLAGEN, valid_until=NEXT_YEAR)
    assert browser.last.status_code == 400 and "kunnen deze persoon niet vinden" in browser.text()
    portal_logout(browser)
    portal_login(browser, "henk")
    assert "(0)" in browser.text()


def test_jan_revokes_in_the_portal_and_the_next_login_has_no_choice(
        browser: Browser, rp: OidcRelyingParty, broker_db: Any) -> None:
    mandate = broker_db.query(Mandate).filter_by(represented_id=JAN, kind="voluntary").one()
    portal_login(browser, "jan")
    browser.open(f"{browser.broker_url}/machtigen/machtiging/{mandate.id}")
    browser.submit("form[action$='/intrekken']", {"reason": "Fatima verhuist"})
    assert "Ingetrokken" in browser.text() and "Fatima verhuist" in browser.text()
    portal_logout(browser)
    arrival = oidc_login(browser, rp, INKOMSTEN, "fatima")
    assert isinstance(arrival, Arrival)  # nobody to choose any more: straight through
    assert "represents" not in rp.finish(arrival).claims


def test_a_stranger_cannot_see_or_revoke_someone_elses_mandate(browser: Browser,
                                                                broker_db: Any) -> None:
    mandate = broker_db.query(Mandate).filter_by(represented_id=JAN, kind="voluntary").one()
    portal_login(browser, "pieter")
    page = browser.open(f"{browser.broker_url}/machtigen/machtiging/{mandate.id}")
    assert page.status_code == 404
    broker_db.expire_all()
    assert broker_db.get(Mandate, mandate.id).state == "active"


def test_expired_activation_code_gets_the_same_message(browser: Browser, broker_db: Any) -> None:
    from datetime import UTC
    from datetime import datetime

    from broker.register.models import ActivationCode

    portal_login(browser, "jan")
    code = ACTIVATION_CODE.search(give(browser, [INKOMSTEN]).text)
    assert code
    portal_logout(browser)
    for record in broker_db.query(ActivationCode).all():
        record.expires_at = datetime.now(UTC)
    broker_db.commit()
    portal_login(browser, "pieter")
    fill(browser, "/machtigen/activeren", code=code.group(0), bsn=JAN, birth_date="1950-03-14")
    assert browser.last.status_code == 400
    assert "De combinatie van BSN, geboortedatum en activeringscode klopt niet" in browser.text()
