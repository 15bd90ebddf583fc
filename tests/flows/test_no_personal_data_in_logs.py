"""Whole brokered logins with every logger at DEBUG: no BSN, KvK number or RSIN of the demo
world reaches an ordinary log record (they belong in the audit trail only)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from broker import audit
from broker.frontends.oidc.clients import register_client
from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import OIDC_REDIRECT
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import SamlServiceProvider
from tests.flows.rp import oidc_login

BSNS = ("999993653", "999990676", "999991772", "999992570", "999990019")
KVKS = ("10000001", "20000002")
RSINS = ("999990172", "999990184")
OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"


@pytest.fixture
def rp(broker_db: Any, base_url: str) -> OidcRelyingParty:
    secret = register_client(broker_db, client_id="log-rp", redirect_uris=[OIDC_REDIRECT],
                             secret=None, may_receive_bsn=True)
    broker_db.commit()
    assert secret
    return OidcRelyingParty(base_url, "log-rp", secret)


@pytest.fixture
def sp(broker_db: Any, base_url: str, tmp_path: Path) -> SamlServiceProvider:
    return SamlServiceProvider(base_url, broker_db, tmp_path / "sp-keys", [OMZET])


def _leaks(records: list[logging.LogRecord]) -> list[str]:
    found = []
    for record in records:
        text = record.getMessage() + (record.exc_text or "") + (record.stack_info or "")
        found += [f"{record.name}: {value} in {text[:300]!r}"
                  for value in (*BSNS, *KVKS, *RSINS) if value in text]
    return found


def test_citizen_logins_with_a_mandate_and_a_refusal_log_no_bsn(
        browser: Browser, rp: OidcRelyingParty, broker_db: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    arrival = oidc_login(browser, rp, INKOMSTEN, "fatima", choose="bsn:999993653")
    assert isinstance(arrival, Arrival), browser.text()
    assert rp.finish(arrival).claims["represents"]["sub"] == "999993653"
    refused = oidc_login(Browser(browser.broker_url), rp, INKOMSTEN, "henk")
    assert not isinstance(refused, Arrival)
    assert len(caplog.records) > 10  # the broker did log, at DEBUG too
    assert _leaks(caplog.records) == []
    broker_db.rollback()
    assert {e.action for e in audit.recent(broker_db)} >= {"login.completed", "login.failed"}


def test_a_chain_login_over_saml_logs_no_kvk_number_or_rsin(
        browser: Browser, sp: SamlServiceProvider, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    outcome = browser.open(sp.login_url(OMZET))
    assert not isinstance(outcome, Arrival), outcome
    outcome = browser.login_at_mock_eherkenning("ruben")
    assert not isinstance(outcome, Arrival), "expected the chooser"
    attributes = sp.finish(browser.submit("form.choices",
                                          button=("choice", "kvk:20000002/kvk:10000001")))
    assert attributes["urn:etoegang:1.9:IntermediateEntityID:KvKnr"] == ["20000002"]
    assert len(caplog.records) > 10
    assert _leaks(caplog.records) == []
