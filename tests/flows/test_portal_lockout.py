"""Wrong activation attempts lock the code, then the person, each with a clear message."""

from typing import Any

import pytest

from tests.flows.browser import ACTIVATION_CODE
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.test_portal import JAN
from tests.flows.test_portal import fill
from tests.flows.test_portal import give
from tests.flows.test_portal import portal_login
from tests.flows.test_portal import portal_logout

WRONG = "De combinatie van BSN, geboortedatum en activeringscode klopt niet"


@pytest.fixture
def config(config: dict[str, Any]) -> dict[str, Any]:
    config["register"] = {**config["register"], "attempts_per_code": 3, "attempts_per_person": 5}
    return config


def _code_from_jan(browser: Browser) -> str:
    portal_login(browser, "jan")
    match = ACTIVATION_CODE.search(give(browser, [INKOMSTEN]).text)
    assert match
    portal_logout(browser)
    return match.group(0)


def _activate(browser: Browser, code: str) -> str:
    fill(browser, "/machtigen/activeren", code=code, bsn=JAN, birth_date="1950-03-14")
    return browser.text()


def test_code_is_locked_after_the_configured_wrong_attempts(browser: Browser) -> None:
    code = _code_from_jan(browser)
    portal_login(browser, "pieter")
    for _ in range(3):
        assert WRONG in _activate(browser, "AAAA-AAAA-AAAA")
    assert WRONG in _activate(browser, code)  # the right code no longer works
    assert browser.last.status_code == 400


def test_person_is_blocked_after_the_configured_wrong_attempts(browser: Browser) -> None:
    portal_login(browser, "pieter")
    for _ in range(5):
        fill(browser, "/machtigen/activeren", code="AAAA-AAAA-AAAA", bsn="999992570",
             birth_date="1941-01-20")
    assert "Activeren is 15 minuten geblokkeerd" in _activate(browser, "AAAA-AAAA-AAAA")
