"""Administrators log in with a password and a second factor: set-up with a QR code or typed
secret, TOTP codes used once, backup codes used once, lockout after 5 wrong attempts in a row,
an administrator's unlock and reset, and changing one's own password and e-mail."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest

from broker.accounts.models import AdminAccount
from broker.accounts.realms import login_guard
from tests.flows.browser import Browser

PASSWORD = "beheer-demo-2026"  # the demo world's administrator "beheerder"


def _login(browser: Browser, username: str = "beheerder", password: str = PASSWORD) -> Any:
    browser.open(f"{browser.broker_url}/admin/inloggen")
    return browser.submit("form", {"username": username, "password": password})


def _set_up(browser: Browser) -> tuple[str, list[str]]:
    """First login of the demo administrator: set up TOTP; returns (secret, backup codes)."""
    _login(browser)
    assert browser.last is not None and browser.last.url.endswith("/admin/tweede-stap")
    secret = browser.page().cssselect(".secret-display code")[0].text_content().replace(" ", "")
    assert browser.page().cssselect(".qr svg"), "the QR code is on the page"
    browser.submit("form", {"code": pyotp.TOTP(secret).now()})
    codes = [li.text_content() for li in browser.page().cssselect(".backup-codes li")]
    return secret, codes


def _code(secret: str, offset: int = 0) -> str:
    """A TOTP code for the current step plus ``offset`` (each accepted code must be newer)."""
    return pyotp.TOTP(secret).at(time.time(), counter_offset=offset)


def _logout(browser: Browser) -> None:
    browser.open(f"{browser.broker_url}/admin/")
    browser.submit("form.inline:last-of-type")


def _second_admin(browser: Browser, live_app: Any) -> Browser:
    """Another administrator, logged in (second factor set up) on the accounts page."""
    from broker.accounts.policy import AccountPolicy
    from broker.accounts.service import Accounts
    from broker.web.runtime import runtime

    with live_app.test_request_context():
        context = runtime().context
        Accounts(context.session, context.store, AccountPolicy(), context.clock,
                 context.settings.secret_key).create(
            "tweede", "tweede@example.nl", "een-lang-wachtwoord", by="cli:test")
    other = Browser(browser.broker_url)
    _login(other, "tweede", "een-lang-wachtwoord")
    secret = other.page().cssselect(".secret-display code")[0].text_content().replace(" ", "")
    other.submit("form", {"code": pyotp.TOTP(secret).now()})
    other.open(f"{other.broker_url}/admin/")
    return other


def test_first_login_sets_up_totp_and_shows_ten_backup_codes(browser: Browser,
                                                              broker_db: Any) -> None:
    secret, codes = _set_up(browser)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(code) == 11 and code[5] == "-" for code in codes)
    assert "ze worden maar één keer getoond" in browser.text()
    browser.open(f"{browser.broker_url}/admin/")
    assert "Beheerders" in browser.text() and "10 reservecodes" in browser.text()
    account = broker_db().get(AdminAccount, "beheerder")
    assert account.totp_confirmed_at is not None and account.totp_secret == secret


def test_setup_refuses_a_wrong_first_code_and_stays_unconfirmed(browser: Browser,
                                                                broker_db: Any) -> None:
    _login(browser)
    response = browser.submit("form", {"code": "000000"})
    assert response.status_code == 400
    assert "Deze code klopt niet" in browser.text() and "Nog 4 poging(en)" in browser.text()
    broker_db.expire_all()
    assert broker_db().get(AdminAccount, "beheerder").totp_confirmed_at is None


def test_login_with_totp_code_then_the_same_code_is_refused(browser: Browser) -> None:
    secret, _ = _set_up(browser)
    _logout(browser)
    _login(browser)
    assert browser.last is not None and browser.last.url.endswith("/admin/inloggen/code")
    code = _code(secret, 1)
    browser.submit("form", {"code": code})
    assert browser.last is not None and browser.last.url.endswith("/admin/")
    _logout(browser)
    _login(browser)
    response = browser.submit("form", {"code": code})
    assert response.status_code == 401
    assert "Deze code klopt niet of is al gebruikt" in browser.text()


def test_wrong_code_is_refused_with_the_attempts_left(browser: Browser) -> None:
    _set_up(browser)
    _logout(browser)
    _login(browser)
    response = browser.submit("form", {"code": "123456"})
    assert response.status_code == 401
    assert "Nog 4 poging(en)" in browser.text()


def test_backup_code_logs_in_once_and_a_reused_backup_code_is_refused(browser: Browser) -> None:
    _, codes = _set_up(browser)
    _logout(browser)
    _login(browser)
    browser.submit("form", {"code": codes[3].upper()})  # typed in capitals: still the code
    assert "U logde in met een reservecode. U hebt er nog 9 over." in browser.text()
    _logout(browser)
    _login(browser)
    response = browser.submit("form", {"code": codes[3]})
    assert response.status_code == 401
    assert "Deze code klopt niet of is al gebruikt" in browser.text()


def test_fifth_wrong_attempt_locks_and_the_sixth_is_refused_even_when_right(
        browser: Browser, live_app: Any) -> None:
    _set_up(browser)
    _logout(browser)
    for attempt in range(1, 5):
        response = _login(browser, password="verkeerd-wachtwoord")
        assert response.status_code == 401
        assert f"Nog {5 - attempt} poging(en)" in browser.text()
    response = _login(browser, password="verkeerd-wachtwoord")  # the 5th
    assert response.status_code == 401
    assert "Het account is nu geblokkeerd" in browser.text()
    response = _login(browser)  # the 6th, with the right password
    assert response.status_code == 403
    assert "Dit account is geblokkeerd" in browser.text()
    assert "vraag een andere beheerder om het account vrij te geven" in browser.text()
    assert "inloggen/code" not in browser.last.url
    with live_app.app_context():
        guard = login_guard(live_app.extensions["broker"].context, "admin")
        assert guard.locked_until("beheerder") is not None


def test_administrator_unlocks_a_locked_account(browser: Browser, broker_db: Any,
                                                live_app: Any) -> None:
    secret, _ = _set_up(browser)
    _logout(browser)
    for _ in range(5):
        _login(browser, password="verkeerd-wachtwoord")
    other = _second_admin(browser, live_app)
    assert "Geblokkeerd tot" in other.text()
    other.submit("form[action$='/accounts/admin/beheerder/vrijgeven']")
    assert "Het account is vrijgegeven." in other.text()
    _login(browser)
    browser.submit("form", {"code": _code(secret, 1)})
    assert browser.last is not None and browser.last.url.endswith("/admin/")


def test_administrator_resets_a_second_factor_and_the_owner_sets_it_up_again(
        browser: Browser, broker_db: Any, live_app: Any) -> None:
    _set_up(browser)
    _logout(browser)
    other = _second_admin(browser, live_app)
    other.submit("form[action$='/accounts/admin/beheerder/tweede-stap-herstellen']")
    assert "De tweede stap is hersteld" in other.text()
    _login(browser)
    assert browser.last is not None and browser.last.url.endswith("/admin/tweede-stap")


def test_change_password_refuses_a_wrong_current_one_then_changes(browser: Browser) -> None:
    _set_up(browser)
    browser.open(f"{browser.broker_url}/admin/mijn-account")
    response = browser.submit("form#password-form", {
        "current": "niet-het-wachtwoord", "new": "nieuw-wachtwoord-123",
        "repeat": "nieuw-wachtwoord-123"})
    assert response.status_code == 400 and "Het huidige wachtwoord klopt niet" in browser.text()
    response = browser.submit("form#password-form", {
        "current": PASSWORD, "new": "kort", "repeat": "kort"})
    assert response.status_code == 400 and "ten minste 12 tekens" in browser.text()
    browser.submit("form#password-form", {
        "current": PASSWORD, "new": "nieuw-wachtwoord-123", "repeat": "nieuw-wachtwoord-123"})
    assert "Uw wachtwoord is gewijzigd." in browser.text()
    _logout(browser)
    assert _login(browser).status_code == 401
    _login(browser, password="nieuw-wachtwoord-123")
    assert browser.last is not None and browser.last.url.endswith("/admin/inloggen/code")


def test_change_email_needs_the_password_and_a_valid_address(browser: Browser,
                                                            broker_db: Any) -> None:
    _set_up(browser)
    browser.open(f"{browser.broker_url}/admin/mijn-account")
    response = browser.submit("form#email-form", {"email": "geen-adres",
                                                       "password": PASSWORD})
    assert response.status_code == 400 and "geldig e-mailadres" in browser.text()
    response = browser.submit("form#email-form", {"email": "nieuw@example.nl",
                                                       "password": "fout"})
    assert response.status_code == 400 and "Het wachtwoord klopt niet" in browser.text()
    broker_db.expire_all()
    assert broker_db().get(AdminAccount, "beheerder").email == "beheerder@example.nl"
    browser.submit("form#email-form", {"email": "nieuw@example.nl", "password": PASSWORD})
    assert "Uw e-mailadres is gewijzigd." in browser.text()


def test_pages_behind_the_login_need_both_steps(browser: Browser) -> None:
    _set_up(browser)
    _logout(browser)
    _login(browser)  # password only
    for path in ("/admin/", "/admin/mijn-account", "/admin/audit"):
        browser.open(f"{browser.broker_url}{path}")
        assert browser.last is not None and browser.last.url.endswith("/admin/inloggen")


@pytest.mark.parametrize("path", ["/admin/accounts/admin/beheerder/vrijgeven",
                                  "/admin/accounts/admin/beheerder/tweede-stap-herstellen"])
def test_administrator_actions_need_a_logged_in_administrator(browser: Browser,
                                                              path: str) -> None:
    browser.open(f"{browser.broker_url}/admin/inloggen")
    token = browser.page().cssselect("input[name=csrf_token]")[0].get("value")
    response = browser.session.post(f"{browser.broker_url}{path}", data={"csrf_token": token},
                                    allow_redirects=False, timeout=10)
    assert response.status_code == 303 and response.headers["Location"].endswith("/inloggen")
