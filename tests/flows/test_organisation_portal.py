"""The organisation portal over HTTP: an administrator authorises and withdraws, appoints an
administrator, gives and revokes a chain mandate; a non-administrator is refused.

The portal session is put in the store directly (as the eHerkenning login would), so these
tests do not depend on the mock eHerkenning.
"""

import secrets
from typing import Any

from flask import Flask
from sqlalchemy import select

from broker.mock_idp.pseudonyms import employee_pseudonym
from broker.portal import organisation as org_portal
from broker.portal import session
from broker.register.models import MACHTIGINGENBEHEERDER
from broker.register.models import REVOKED
from broker.register.models import Mandate
from broker.register.models import OrganisationRole
from tests.flows.browser import Arrival
from tests.flows.browser import Browser

BAKERY, OFFICE = "10000001", "20000002"
OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
EVA, BEA, RUBEN = (employee_pseudonym(BAKERY, "eva"), employee_pseudonym(BAKERY, "beheer"),
                   employee_pseudonym(OFFICE, "ruben"))


def portal_session(app: Flask, browser: Browser, pseudonym: str, kvk: str) -> None:
    """Log ``pseudonym`` in for ``kvk`` as a completed eHerkenning login would."""
    token = secrets.token_urlsafe(32)
    with app.app_context():
        app.extensions["broker"].context.store.put(
            session.key(org_portal.ORG_SESSIONS, token),
            {"pseudonym": pseudonym, "kvk": kvk, "loa": "substantial"}, org_portal.IDLE_SECONDS)
    browser.session.cookies.set(org_portal.COOKIE, token)


def _post(browser: Browser, page: str, form: str, data: list[tuple[str, str]]) -> Any:
    """Send the form of ``page`` with its hidden fields (CSRF and submission tokens)."""
    browser.open(browser.broker_url + page)
    hidden = [(field.get("name"), field.get("value")) for field in
              browser.form(form).xpath(".//input[@type='hidden'][@name]")]
    return browser.session.post(browser.broker_url + page, data=[*hidden, *data],
                                allow_redirects=True, timeout=10)


def _mandates(broker_db: Any, **where: str) -> list[Mandate]:
    broker_db.expire_all()
    query = select(Mandate).where(*(getattr(Mandate, k) == v for k, v in where.items()))
    return list(broker_db.execute(query).scalars())


def test_portal_without_session_offers_eherkenning_login(browser: Browser) -> None:
    browser.open(browser.broker_url + "/machtigen/organisatie/medewerkers")
    assert "Inloggen met eHerkenning" in browser.text()


def test_overview_shows_mandates_given_and_received(live_app: Flask, browser: Browser) -> None:
    portal_session(live_app, browser, RUBEN, OFFICE)
    browser.open(browser.broker_url + "/machtigen/organisatie/")
    text = browser.text()
    assert "Administratiekantoor Telgen" in text and "Ruben Telgen" in text
    assert "Klanten (als intermediair)" in text and "Bakkerij De Korenaar B.V." in text


def test_administrator_grants_and_withdraws_an_employee_authorisation(
        live_app: Flask, browser: Browser, broker_db: Any) -> None:
    portal_session(live_app, browser, BEA, BAKERY)
    page = _post(browser, "/machtigen/organisatie/medewerkers", "form.stack", [
        ("employee", EVA), ("service", OMZET), ("loa", "high"), ("chain", "1")])
    assert page.status_code == 200 and "Gelukt" in page.text
    granted = [m for m in _mandates(broker_db, representative_id=EVA) if m.loa == "high"]
    assert len(granted) == 1 and granted[0].extra == {"chain": True}
    browser.open(browser.broker_url + "/machtigen/organisatie/medewerkers")
    withdraw = f"form[action$='/medewerkers/{granted[0].id}/intrekken']"
    assert browser.submit(withdraw).status_code == 200
    assert _mandates(broker_db, id=granted[0].id)[0].state == REVOKED


def test_grant_to_someone_outside_the_organisation_is_refused(
        live_app: Flask, browser: Browser, broker_db: Any) -> None:
    portal_session(live_app, browser, BEA, BAKERY)
    before = len(_mandates(broker_db))
    page = _post(browser, "/machtigen/organisatie/medewerkers", "form.stack", [
        ("employee", RUBEN), ("service", OMZET), ("loa", "substantial")])
    assert page.status_code == 400 and "Kies een medewerker van uw organisatie" in page.text
    assert len(_mandates(broker_db)) == before


def test_non_administrator_sees_but_cannot_change(live_app: Flask, browser: Browser,
                                                  broker_db: Any) -> None:
    portal_session(live_app, browser, EVA, BAKERY)
    browser.open(browser.broker_url + "/machtigen/organisatie/medewerkers")
    assert "Alleen een tekenbevoegde of machtigingenbeheerder" in browser.text()
    assert not browser.page().cssselect("form.stack")
    before = len(_mandates(broker_db))
    browser.open(browser.broker_url + "/machtigen/organisatie/")  # the log-out form has a token
    token = browser.page().xpath("//input[@name='csrf_token']")[0].get("value")
    for path, data in [("medewerkers", [("employee", EVA), ("service", OMZET),
                                        ("loa", "substantial")]),
                       ("keten", [("intermediary", OFFICE), ("service", OMZET)]),
                       ("beheerders", [("employee", EVA)])]:
        page = browser.session.post(f"{browser.broker_url}/machtigen/organisatie/{path}",
                                    data=[("csrf_token", token), *data], timeout=10)
        assert page.status_code == 403 and "Er is niets gewijzigd" in page.text
    chain = _mandates(broker_db, kind="chain")[0]
    page = browser.session.post(
        f"{browser.broker_url}/machtigen/organisatie/keten/{chain.id}/intrekken",
        data={"csrf_token": token}, timeout=10)
    assert page.status_code == 403
    assert len(_mandates(broker_db)) == before and _mandates(broker_db, id=chain.id)[0].state == \
        "active"


def test_form_without_csrf_token_is_refused(live_app: Flask, browser: Browser,
                                            broker_db: Any) -> None:
    portal_session(live_app, browser, BEA, BAKERY)
    page = browser.session.post(browser.broker_url + "/machtigen/organisatie/keten",
                                data={"intermediary": OFFICE, "service": OMZET}, timeout=10)
    assert page.status_code == 400


def test_administrator_appoints_and_ends_an_administrator(live_app: Flask, browser: Browser,
                                                          broker_db: Any) -> None:
    portal_session(live_app, browser, BEA, BAKERY)
    page = _post(browser, "/machtigen/organisatie/beheerders", "form.stack", [("employee", EVA)])
    assert page.status_code == 200 and "Gelukt" in page.text
    broker_db.expire_all()
    role = broker_db.execute(select(OrganisationRole).where(
        OrganisationRole.pseudonym == EVA)).scalar_one()
    assert (role.role, role.appointed_by, role.ended_at) == (MACHTIGINGENBEHEERDER, BEA, None)
    browser.open(browser.broker_url + "/machtigen/organisatie/beheerders")
    browser.submit(f"form[action$='/beheerders/{role.id}/beeindigen']")
    broker_db.expire_all()
    assert broker_db.get(OrganisationRole, role.id).ended_at is not None


def test_chain_mandate_given_by_typed_kvk_and_revoked_by_the_intermediary(
        live_app: Flask, browser: Browser, broker_db: Any) -> None:
    portal_session(live_app, browser, BEA, BAKERY)
    existing = _mandates(broker_db, kind="chain")[0]
    page = _post(browser, "/machtigen/organisatie/keten", "form.stack",
                 [("intermediary", "2000 0002"), ("service", OMZET)])
    assert page.status_code == 400 and "vertegenwoordigt" in page.text  # already mandated
    page = _post(browser, "/machtigen/organisatie/keten", "form.stack",
                 [("intermediary", "12345"), ("service", OMZET)])
    assert page.status_code == 400 and "precies 8 cijfers" in page.text
    browser.open(browser.broker_url + "/machtigen/organisatie/keten")
    browser.submit(f"form[action$='/keten/{existing.id}/intrekken']")
    assert _mandates(broker_db, id=existing.id)[0].state == REVOKED
    page = _post(browser, "/machtigen/organisatie/keten", "form.stack",
                 [("intermediary", "2000 0002"), ("service", OMZET)])
    assert page.status_code == 200 and "Gelukt" in page.text
    [given] = [m for m in _mandates(broker_db, kind="chain") if m.state == "active"]
    assert (given.represented_id, given.representative_id) == (BAKERY, OFFICE)
    ruben = Browser(browser.broker_url)
    portal_session(live_app, ruben, RUBEN, OFFICE)
    ruben.open(ruben.broker_url + "/machtigen/organisatie/keten")
    ruben.submit(f"form[action$='/keten/{given.id}/intrekken']")
    assert _mandates(broker_db, id=given.id)[0].state == REVOKED


# -- through the real mock eHerkenning ---------------------------------------------------------


def _org_portal_login(browser: Browser, username: str) -> None:
    browser.open(browser.broker_url + "/machtigen/organisatie/")
    browser.submit("form[action$='/machtigen/organisatie/inloggen']")
    browser.login_at_mock_eherkenning(username)
    assert browser.last.url.endswith("/machtigen/organisatie/"), browser.text()


def test_bea_logs_in_with_eherkenning_and_withdraws_evas_authorisation_for_the_next_login(
        browser: Browser, broker_db: Any, base_url: str) -> None:
    from broker.frontends.oidc.clients import register_client
    from tests.flows.rp import OIDC_REDIRECT
    from tests.flows.rp import OidcRelyingParty
    from tests.flows.rp import login

    _org_portal_login(browser, "beheer")
    assert "Bakkerij De Korenaar" in browser.text()
    browser.open(browser.broker_url + "/machtigen/organisatie/medewerkers")
    withdraw = browser.page().xpath("//form[contains(@action, '/intrekken')]/@action")
    assert len(withdraw) == 1  # eva's authorisation for Aangifte omzetbelasting
    browser.submit(f"form[action='{withdraw[0]}']")
    assert browser.last.status_code == 200
    secret = register_client(broker_db, client_id="org-rp", redirect_uris=[OIDC_REDIRECT],
                             secret=None)
    assert secret
    rp = OidcRelyingParty(base_url, "org-rp", secret)
    fresh = Browser(base_url)
    outcome = login(fresh, rp.authorization_url("ccc77903-dc20-519b-bf8a-35c0b74d02e2"), "eva")
    assert not isinstance(outcome, Arrival) and outcome.status_code == 403
    assert "niet gemachtigd" in fresh.text()


def test_an_employee_who_is_no_administrator_may_look_but_not_change(browser: Browser) -> None:
    _org_portal_login(browser, "eva")
    page = browser.open(browser.broker_url + "/machtigen/organisatie/medewerkers")
    assert page.status_code == 200 and "<select" not in page.text  # no form to change anything
    browser.open(browser.broker_url + "/machtigen/organisatie/")
    token = browser.page().xpath("//input[@name='csrf_token']/@value")[0]
    response = browser.session.post(browser.broker_url + "/machtigen/organisatie/beheerders",
                                    data={"csrf_token": token, "employee": "x"}, timeout=10)
    assert response.status_code == 403


# -- bulk upload ---------------------------------------------------------------------------------

IMPORT_HEADER = ("kind,represented_type,represented,representative_type,representative,services,"
                 "loa,branch,valid_from,valid_until")


def _upload(browser: Browser, content: str, name: str = "mandates.csv",
            dry_run: bool = False) -> Any:
    browser.open(browser.broker_url + "/machtigen/organisatie/importeren")
    token = browser.form("form.stack").xpath(".//input[@name='csrf_token']")[0].get("value")
    data = {"csrf_token": token, **({"dry_run": "1"} if dry_run else {})}
    return browser.session.post(browser.broker_url + "/machtigen/organisatie/importeren",
                                data=data, files={"file": (name, content.encode())}, timeout=30)


def test_administrator_uploads_mandates_with_a_report_by_line_and_nothing_twice(
        live_app: Flask, browser: Browser, broker_db: Any) -> None:
    portal_session(live_app, browser, BEA, BAKERY)
    content = "\n".join((
        IMPORT_HEADER,
        f"company,kvk,{BAKERY},pseudonym,emp-1@bakery,{OMZET},substantial,,2026-01-01,",
        f"company,kvk,{OFFICE},pseudonym,emp-2@office,{OMZET},substantial,,2026-01-01,",
        f"company,kvk,1000000x,pseudonym,emp-3@bakery,{OMZET},substantial,,2026-01-01,",
        f"company,rsin,999990172,pseudonym,emp-4@bakery,{OMZET},substantial,,2026-01-01,",
    )) + "\n"
    dry = _upload(browser, content, dry_run=True)
    assert dry.status_code == 200 and "Proefrun" in dry.text
    assert _mandates(broker_db, representative_id="emp-1@bakery") == []
    page = _upload(browser, content)
    text = " ".join(page.text.split())
    assert "Ingelezen: <strong>2</strong>" in text and "afgewezen: <strong>2</strong>" in text
    assert "<td>3</td><td>niet gegeven door uw eigen organisatie</td>" in text
    assert "<td>4</td>" in text  # the KvK with a letter
    assert len(_mandates(broker_db, representative_id="emp-1@bakery")) == 1
    assert len(_mandates(broker_db, representative_id="emp-4@bakery")) == 1  # by its RSIN
    again = " ".join(_upload(browser, content).text.split())
    assert "Ingelezen: <strong>0</strong>" in again and "al aanwezig: <strong>2</strong>" in again


def test_a_file_of_unknown_format_is_refused_clearly(live_app: Flask, browser: Browser) -> None:
    portal_session(live_app, browser, BEA, BAKERY)
    page = _upload(browser, "whatever", name="mandates.xlsx")
    assert page.status_code == 400 and "Cannot tell the format" not in page.text
    assert "Formaat onbekend" in page.text


def test_an_employee_who_is_no_administrator_cannot_upload(live_app: Flask,
                                                           browser: Browser) -> None:
    portal_session(live_app, browser, EVA, BAKERY)
    page = browser.open(browser.broker_url + "/machtigen/organisatie/importeren")
    assert "Alleen beheerders" in page.text and 'type="file"' not in page.text
