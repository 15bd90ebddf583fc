"""Mock identity provider accounts log in with a one-time backup code instead of the app's
code: an administrator makes ten for an account (shown once); each works once."""

from __future__ import annotations

from typing import Any

from tests.flows.browser import Browser
from tests.flows.test_admin_accounts import _set_up
from tests.flows.test_mock_idp_lockout import _to_mock_digid


def _codes_for(admin: Browser, realm: str, username: str) -> list[str]:
    admin.open(f"{admin.broker_url}/admin/")
    admin.submit(f"form[action$='/accounts/{realm}/{username}/reservecodes']")
    assert f"Reservecodes voor {realm}:{username}" in admin.text()
    return [li.text_content() for li in admin.page().cssselect(".backup-codes li")]


def test_mock_digid_backup_code_logs_in_once(browser: Browser) -> None:
    admin = Browser(browser.broker_url)
    _set_up(admin)
    codes = _codes_for(admin, "digid", "jan")
    assert len(codes) == 10
    _to_mock_digid(browser)
    browser.login_at_mock_digid("jan", code=codes[0])
    assert browser.last.url.endswith("/machtigen/"), browser.text()
    browser.open(browser.broker_url + "/machtigen/")
    browser.submit("form[action$='/machtigen/uitloggen']")
    _to_mock_digid(browser)
    response = browser.login_at_mock_digid("jan", code=codes[0])
    assert response.status_code == 401
    assert "Gebruikersnaam, wachtwoord of code onjuist" in browser.text()


def test_new_backup_codes_replace_the_old_ones(browser: Browser) -> None:
    admin = Browser(browser.broker_url)
    _set_up(admin)
    old = _codes_for(admin, "digid", "jan")
    _codes_for(admin, "digid", "jan")
    _to_mock_digid(browser)
    assert browser.login_at_mock_digid("jan", code=old[1]).status_code == 401


def test_a_backup_code_belongs_to_its_own_account(browser: Browser) -> None:
    admin = Browser(browser.broker_url)
    _set_up(admin)
    codes = _codes_for(admin, "digid", "jan")
    _to_mock_digid(browser)
    assert browser.login_at_mock_digid("pieter", code=codes[0]).status_code == 401


def test_backup_codes_for_an_unknown_account_are_refused(browser: Browser,
                                                         broker_db: Any) -> None:
    admin = Browser(browser.broker_url)
    _set_up(admin)
    admin.open(f"{admin.broker_url}/admin/")
    token = admin.page().cssselect("input[name=csrf_token]")[0].get("value")
    response = admin.session.post(f"{admin.broker_url}/admin/accounts/digid/niemand/reservecodes",
                                  data={"csrf_token": token}, timeout=10)
    assert response.status_code == 404
    assert "Onbekend account" in response.text
