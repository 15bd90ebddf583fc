"""Two broker processes, one PostgreSQL and one Redis: what a load balancer in front of several
brokers relies on.

Both processes run ``broker serve`` with the same config, instance (keys) and secret, behind
one base URL, as identical machines behind a proxy would; the browser sends each request to
the process the test names. These tests run in the pass with DATABASE_URL and REDIS_URL set
(``./run tests`` makes that pass when both services answer).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from broker.config import demo_config
from broker.frontends.oidc.clients import register_client
from tests import services
from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import OIDC_REDIRECT
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import oidc_login
from tests.flows.test_portal import portal_login
from tests.served import TwoBrokers
from tests.served import free_port
from tests.served import moved
from tests.served import two_brokers

JAN, FATIMA = "999993653", "999990676"

pytestmark = pytest.mark.skipif(
    not (services.postgresql_url() and services.redis_url()),
    reason="runs in the pass with DATABASE_URL (PostgreSQL) and REDIS_URL set; ./run tests "
           "makes it when both services answer")


@pytest.fixture
def brokers(tmp_path: Path, instance_path: Path,
            service_environ: dict[str, str]) -> Iterator[TwoBrokers]:
    data = demo_config(f"http://127.0.0.1:{free_port()}")
    data["broker"]["redis_prefix"] = services.redis_prefix()
    with two_brokers(tmp_path, instance_path, service_environ, data) as brokers:
        yield brokers


@pytest.fixture
def rp(brokers: TwoBrokers, database: Any) -> OidcRelyingParty:
    secret = register_client(database, client_id="rp-two", redirect_uris=[OIDC_REDIRECT],
                             secret=None, claims_profile="nlgov", may_receive_bsn=True)
    database.commit()
    database.close()
    assert secret
    return OidcRelyingParty(brokers.base_url, "rp-two", secret, door=brokers.second.url)


@pytest.fixture
def browser(brokers: TwoBrokers) -> Browser:
    return Browser(brokers.base_url, doors=(brokers.second.url,))


def test_a_login_begun_at_one_process_finishes_at_the_other(
        brokers: TwoBrokers, browser: Browser, rp: OidcRelyingParty) -> None:
    to_second = brokers.through(brokers.second)
    browser.route = lambda url: to_second(url) if "/acs" in url else url
    outcome = oidc_login(browser, rp, INKOMSTEN, "fatima")  # authorize and mock DigiD: first
    assert urlsplit(browser.last.url).netloc == urlsplit(brokers.second.url).netloc  # type: ignore[union-attr]
    assert not isinstance(outcome, Arrival) and "Namens wie" in browser.text()
    browser.route = to_second
    arrival = browser.submit("form.choices", button=("choice", f"bsn:{JAN}"))
    claims = rp.finish(arrival).claims  # the code redeemed at the second too
    assert claims["sub"] == FATIMA and claims["represents"]["sub"] == JAN


def test_a_response_replayed_at_the_other_process_is_refused(
        brokers: TwoBrokers, browser: Browser, rp: OidcRelyingParty) -> None:
    captured = "https://capture.invalid"
    browser.route = lambda url: moved(url, brokers.base_url, captured) if "/acs" in url else url
    posted = oidc_login(browser, rp, INKOMSTEN, "fatima")
    assert isinstance(posted, Arrival) and "SAMLResponse" in posted.fields
    acs = urlsplit(posted.url).path
    accepted = requests.post(brokers.first.url + acs, data=posted.fields, timeout=30,
                             cookies=browser.session.cookies, allow_redirects=False)
    assert accepted.status_code == 303 or accepted.is_redirect, accepted.text[:500]
    replayed = requests.post(brokers.second.url + acs, data=posted.fields, timeout=30,
                             cookies=browser.session.cookies, allow_redirects=False)
    assert replayed.status_code == 400, replayed.text[:500]
    assert not replayed.is_redirect


def test_a_mandate_revoked_through_one_process_is_gone_from_the_others_next_chooser(
        brokers: TwoBrokers, browser: Browser, rp: OidcRelyingParty, database: Any) -> None:
    from broker.register.models import Mandate

    browser.route = brokers.through(brokers.second)
    oidc_login(browser, rp, INKOMSTEN, "fatima")  # the second has shown Jan before
    assert "Jan Jansen" in browser.text()
    mandate_id = database.query(Mandate.id).filter_by(represented_id=JAN,
                                                      kind="voluntary").scalar()
    database.close()
    jan = Browser(brokers.base_url)
    portal_login(jan, "jan")
    jan.open(f"{brokers.base_url}/machtigen/machtiging/{mandate_id}")
    jan.submit("form[action$='/intrekken']", {"reason": "Fatima verhuist"})
    assert "Ingetrokken" in jan.text()
    fresh = Browser(brokers.base_url, doors=(brokers.second.url,))
    fresh.route = brokers.through(brokers.second)
    arrival = oidc_login(fresh, rp, INKOMSTEN, "fatima")
    assert isinstance(arrival, Arrival), fresh.text()  # nobody to choose: straight through
    assert "represents" not in rp.finish(arrival).claims
