"""A whole business login through the eHerkenning connector to a real (not in-process) identity
provider, configured by a metadata file as an operator would configure a herkenningsmakelaar:
here the mock eHerkenning's signed metadata, written out first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from broker.app import create_app
from broker.config import demo_config
from broker.config import load_settings
from broker.connectors.eherkenning import EherkenningConnector
from broker.connectors.mock_eherkenning import MockEherkenningConnector
from broker.frontends.oidc.clients import register_client
from tests.conftest import release
from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import OIDC_REDIRECT
from tests.flows.rp import OidcRelyingParty

OMZETBELASTING = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
BAKERY_KVK = "10000001"


@pytest.fixture
def config(base_url: str, instance_path: Path, tmp_path: Path) -> dict[str, Any]:
    """The demo, with its eHerkenning connector replaced by the generic one on a metadata file
    (the mock's own, signed with this instance's key)."""
    demo = create_app(load_settings(demo_config(base_url), instance_path=instance_path,
                                    environ={}))
    metadata = tmp_path / "eherkenning-metadata.xml"
    metadata.write_bytes(demo.test_client().get("/mock/eherkenning/metadata").data)
    release(demo)
    config = demo_config(base_url)
    config["connectors"]["eherkenning"] = {"type": "eherkenning", "label": "eHerkenning",
                                           "metadata": str(metadata)}
    return config


def test_eva_logs_in_for_the_bakery_through_the_eherkenning_connector(
        browser: Browser, broker_db: Any, base_url: str, live_app: Any) -> None:
    connector = live_app.extensions["broker"].connectors["eherkenning"]
    assert isinstance(connector, EherkenningConnector)
    assert not isinstance(connector, MockEherkenningConnector) and not connector.is_mock
    secret = register_client(broker_db, client_id="business-rp", redirect_uris=[OIDC_REDIRECT],
                             secret=None, claims_profile="nlgov")
    broker_db.commit()
    assert secret
    rp = OidcRelyingParty(base_url, "business-rp", secret)
    outcome = browser.open(rp.authorization_url(OMZETBELASTING))
    assert not isinstance(outcome, Arrival), outcome
    arrival = browser.login_at_mock_eherkenning("eva")
    assert isinstance(arrival, Arrival), browser.text()
    claims = rp.finish(arrival).claims
    assert claims["represents"]["sub"] == BAKERY_KVK
    assert claims["mandate"]["kind"] == "company"
