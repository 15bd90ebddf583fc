"""One-time things raced: two redemptions of one authorization code at the same instant.

RFC 6749 4.1.2: a code presented twice must not yield two grants, and the broker also revokes
what the first presentation issued. That must hold when both presentations arrive at once, at
two processes: whichever wins, no access token may stay usable.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests
from flask import Flask

from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import OIDC_REDIRECT
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import oidc_login
from tests.reliability.concurrency import at_once
from tests.reliability.conftest import Target
from tests.reliability.conftest import client_secret

TRIALS = 12


def _code(browser: Browser, rp: OidcRelyingParty) -> str:
    arrival = oidc_login(browser, rp, INKOMSTEN, "jan")  # nobody to choose: straight through
    assert isinstance(arrival, Arrival), browser.text()
    return parse_qs(urlsplit(arrival.url).query)["code"][0]


def _redeem(door: str, rp: OidcRelyingParty, secret: str, code: str) -> requests.Response:
    return requests.post(f"{door}/oidc/token", timeout=60, auth=(rp.client.client_id, secret),
                         data={"grant_type": "authorization_code", "code": code,
                               "redirect_uri": OIDC_REDIRECT, "code_verifier": rp.verifier})


def _usable(door: str, token: str) -> bool:
    answer = requests.get(f"{door}/oidc/userinfo", timeout=60,
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (200, 401), answer.text[:300]
    return answer.status_code == 200


def _race(doors: tuple[str, str], browser: Browser, broker_url: str, client_id: str,
          secret: str) -> dict[str, Any]:
    """One trial: a fresh code redeemed at both doors at once; what came of it."""
    rp = OidcRelyingParty(broker_url, client_id, secret)
    code = _code(browser, rp)
    answers = at_once(*(lambda door=door: _redeem(door, rp, secret, code) for door in doors))
    assert all(answer.status_code in (200, 400) for answer in answers), \
        [(a.status_code, a.text[:200]) for a in answers]
    tokens = [answer.json()["access_token"] for answer in answers if answer.status_code == 200]
    return {"granted": len(tokens),
            "usable": [token for token in tokens for door in doors if _usable(door, token)]}


def _assert_no_trial_left_a_token(outcomes: list[dict[str, Any]]) -> None:
    assert all(outcome["granted"] <= 1 for outcome in outcomes), outcomes
    left = [outcome for outcome in outcomes if outcome["usable"]]
    assert not left, f"{len(left)} of {len(outcomes)} races left an access token usable"


def test_a_code_redeemed_at_two_doors_at_once_leaves_no_token_usable(target: Target) -> None:
    """Two processes in the pass with PostgreSQL and Redis; two threads of one otherwise."""
    secret = client_secret(target.session, "race-rp")
    browser = Browser(target.base_url)
    outcomes = [_race(target.doors, browser, target.base_url, "race-rp", secret)
                for _ in range(TRIALS)]
    _assert_no_trial_left_a_token(outcomes)


def test_a_replayed_code_revokes_the_token_it_gave(live_app: Flask, base_url: str,
                                                   broker_db: Any) -> None:
    """The sequential case, for contrast: the token works until the code comes again."""
    secret = client_secret(broker_db, "replay-rp")
    rp = OidcRelyingParty(base_url, "replay-rp", secret)
    code = _code(Browser(base_url), rp)
    first = _redeem(base_url, rp, secret, code)
    token = first.json()["access_token"]
    assert _usable(base_url, token)
    assert _redeem(base_url, rp, secret, code).json()["error"] == "invalid_grant"
    assert not _usable(base_url, token)
