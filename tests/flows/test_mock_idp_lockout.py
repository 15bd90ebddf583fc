"""Mock DigiD accounts lock after 5 wrong attempts in a row, over any number of login attempts;
the 6th is refused even with the right password until an administrator unlocks the account."""

from __future__ import annotations

from typing import Any

from broker.accounts.realms import login_guard
from tests.flows.browser import Browser
from tests.flows.test_admin_accounts import _set_up


def _to_mock_digid(browser: Browser) -> None:
    browser.open(browser.broker_url + "/machtigen/")
    browser.submit("form[action$='/machtigen/inloggen']")
    assert "/mock/digid/login/" in browser.last.url


def _wrong(browser: Browser, username: str = "jan") -> Any:
    return browser.submit("form.login", {"username": username, "password": "fout",
                                         "code": "000000"}, button=("action", "login"))


def test_fifth_wrong_attempt_locks_the_account_over_two_logins_and_the_sixth_is_refused(
        browser: Browser, live_app: Any) -> None:
    _to_mock_digid(browser)
    for _ in range(3):
        assert _wrong(browser).status_code == 401
    _to_mock_digid(browser)  # a new login attempt: the account's count goes on
    assert _wrong(browser).status_code == 401
    response = _wrong(browser)  # the 5th in a row for jan
    assert response.status_code == 403
    assert "Dit account is geblokkeerd" in browser.text()
    _to_mock_digid(browser)
    response = browser.login_at_mock_digid("jan")  # the 6th: right password and code
    assert response.status_code == 403
    assert "Dit account is geblokkeerd" in browser.text()
    with live_app.app_context():
        guard = login_guard(live_app.extensions["broker"].context, "digid")
        assert guard.locked_until("jan") is not None
    _to_mock_digid(browser)
    browser.login_at_mock_digid("pieter")  # another account is not affected
    assert browser.last.url.endswith("/machtigen/")


def test_administrator_unlocks_a_mock_digid_account(browser: Browser) -> None:
    _to_mock_digid(browser)
    for _ in range(5):
        _wrong(browser)
    admin = Browser(browser.broker_url)
    _set_up(admin)
    admin.open(f"{admin.broker_url}/admin/")
    assert "Accounts bij de test-inlogmiddelen" in admin.text()
    admin.submit("form[action$='/accounts/digid/jan/vrijgeven']")
    assert "Het account is vrijgegeven." in admin.text()
    _to_mock_digid(browser)
    browser.login_at_mock_digid("jan")
    assert browser.last.url.endswith("/machtigen/"), browser.text()
