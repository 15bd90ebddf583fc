"""Every login and code form is limited per client address, over all accounts: probing many
usernames from one machine is stopped like guessing one password."""

from __future__ import annotations

from typing import Any

import pytest

from tests.flows.browser import Browser


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    config["accounts"] = {"address_attempts": 5, "address_window_seconds": 600}
    return config


def test_administrator_login_is_limited_per_address(browser: Browser) -> None:
    for number in range(5):
        browser.open(f"{browser.broker_url}/admin/inloggen")
        response = browser.submit("form", {"username": f"iemand{number}", "password": "x" * 12})
        assert response.status_code == 401
    browser.open(f"{browser.broker_url}/admin/inloggen")
    response = browser.submit("form", {"username": "beheerder", "password": "beheer-demo-2026"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "600"
    assert "Te veel pogingen" in browser.text()


def test_mock_digid_login_is_limited_per_address(browser: Browser) -> None:
    for number in range(5):
        browser.open(browser.broker_url + "/machtigen/")
        browser.submit("form[action$='/machtigen/inloggen']")
        browser.submit("form.login", {"username": f"onbekend{number}", "password": "x"},
                       button=("action", "login"))
    browser.open(browser.broker_url + "/machtigen/")
    browser.submit("form[action$='/machtigen/inloggen']")
    response = browser.login_at_mock_digid("jan")
    assert response.status_code == 429 and response.headers["Retry-After"] == "600"
    assert "Te veel inlogpogingen vanaf dit adres" in browser.text()
