"""Whole logins: pysaml2 SP → broker → mock DigiD → (chooser) → broker → SP.

The demo world's citizen lines through the SAML frontend, asserting on the assertion that
pysaml2 verified, with the ST-SAML attribute names.
"""

from pathlib import Path
from typing import Any

import pytest

from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import TOESLAGEN
from tests.flows.rp import ZORGDOSSIER
from tests.flows.rp import SamlServiceProvider
from tests.flows.rp import saml_login

JAN, FATIMA, PIETER, HENK, NOOR = "999993653", "999990676", "999991772", "999992570", "999990019"
ACTING = "urn:nl-eid-gdi:1.0:ActingSubjectID"
LEGAL = "urn:nl-eid-gdi:1.0:LegalSubjectID"
SERVICE = "urn:nl-eid-gdi:1.0:ServiceUUID"
REPRESENTATION = "urn:nl-eid-gdi:1.1:RepresentationType"
LEGACY_BSN = "urn:nl-eid-gdi:1.0:id:legacy-BSN"


@pytest.fixture
def sp(broker_db: Any, base_url: str, tmp_path: Path) -> SamlServiceProvider:
    return SamlServiceProvider(base_url, broker_db, tmp_path / "sp-keys",
                               [INKOMSTEN, TOESLAGEN, ZORGDOSSIER])


def test_jan_logs_in_for_himself_straight_through(browser: Browser,
                                                  sp: SamlServiceProvider) -> None:
    arrival = saml_login(browser, sp, INKOMSTEN, "jan")
    assert isinstance(arrival, Arrival), browser.text()
    attributes = sp.finish(arrival)
    assert attributes[ACTING] == [f"{LEGACY_BSN}|{JAN}"]
    assert attributes[SERVICE] == [INKOMSTEN]
    assert LEGAL not in attributes
    assert attributes["_authn_context"] == ["http://eidas.europa.eu/LoA/substantial"]


def test_fatima_logs_in_for_jan(browser: Browser, sp: SamlServiceProvider) -> None:
    saml_login(browser, sp, INKOMSTEN, "fatima")
    assert "Jan Jansen" in browser.text()
    attributes = sp.finish(browser.submit("form.choices", button=("choice", f"bsn:{JAN}")))
    assert attributes[ACTING] == [f"{LEGACY_BSN}|{FATIMA}"]
    assert attributes[LEGAL] == [f"{LEGACY_BSN}|{JAN}"]
    assert REPRESENTATION not in attributes


def test_fatima_logs_in_for_noor_at_zorgdossier_as_parent(browser: Browser,
                                                          sp: SamlServiceProvider) -> None:
    arrival = saml_login(browser, sp, ZORGDOSSIER, "fatima", choose=f"bsn:{NOOR}")
    attributes = sp.finish(arrival)
    assert attributes[LEGAL] == [f"{LEGACY_BSN}|{NOOR}"]
    assert attributes[REPRESENTATION] == ["urn:nl-eid-gdi:1.1:RT:Zorg_Volledig_Gezag_Kind"]


def test_pieter_logs_in_for_henk_at_toeslagen_as_bewindvoerder(browser: Browser,
                                                               sp: SamlServiceProvider) -> None:
    arrival = saml_login(browser, sp, TOESLAGEN, "pieter", choose=f"bsn:{HENK}")
    attributes = sp.finish(arrival)
    assert attributes[ACTING] == [f"{LEGACY_BSN}|{PIETER}"]
    assert attributes[LEGAL] == [f"{LEGACY_BSN}|{HENK}"]
    assert attributes[REPRESENTATION] and "bewind" in attributes[REPRESENTATION][0]


def test_fatima_choosing_herself_gets_no_legal_subject(browser: Browser,
                                                       sp: SamlServiceProvider) -> None:
    attributes = sp.finish(saml_login(browser, sp, INKOMSTEN, "fatima", choose="self"))
    assert attributes[ACTING] == [f"{LEGACY_BSN}|{FATIMA}"] and LEGAL not in attributes


def test_henk_is_refused_and_the_sp_gets_no_authn_context(browser: Browser,
                                                          sp: SamlServiceProvider) -> None:
    outcome = saml_login(browser, sp, INKOMSTEN, "henk")
    assert not isinstance(outcome, Arrival) and outcome.status_code == 403
    assert "betrouwbaarheidsniveau" in browser.text()
    arrival = browser.submit("form.panel-error form, .panel-error form")
    assert isinstance(arrival, Arrival)
    assert "NoAuthnContext" in sp.status_of(arrival)


def test_crafted_choice_of_a_party_not_offered_is_refused_and_nothing_reaches_the_sp(
        browser: Browser, sp: SamlServiceProvider) -> None:
    saml_login(browser, sp, INKOMSTEN, "pieter")
    assert [b.get("value") for b in browser.form("form.choices").xpath(".//button")] == [
        "self", f"bsn:{HENK}"]
    outcome = browser.submit("form.choices", button=("choice", f"bsn:{JAN}"))
    assert not isinstance(outcome, Arrival)
    assert outcome.status_code == 403
    assert "niet namens" in browser.text()
