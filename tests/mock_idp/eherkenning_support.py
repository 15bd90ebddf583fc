"""Shared by the mock eHerkenning and eHerkenning connector tests: a broker with the mock
eHerkenning connector and IdP mounted, the recording stub frontend, and helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from broker.app import create_app
from broker.app import csrf
from broker.components import Components
from broker.components import SamlServiceProvider
from broker.config import load_settings
from broker.demo.seed import seed
from broker.flow import flow_key
from broker.keys import KeyPair
from broker.loa import ETOEGANG_URI
from broker.mock_idp import engine
from broker.mock_idp.eherkenning import ACTING_SUBJECT_ID
from broker.mock_idp.eherkenning import COMPANY_NAME
from broker.mock_idp.eherkenning import ENTITY_ID
from broker.mock_idp.eherkenning import KVKNR
from broker.mock_idp.eherkenning import LEGAL_SUBJECT_ID
from broker.mock_idp.eherkenning import PSEUDO
from broker.mock_idp.eherkenning import RSIN
from broker.mock_idp.eherkenning import SERVICE_UUID
from broker.mock_idp.eherkenning import create_mock_eherkenning
from broker.mock_idp.pseudonyms import employee_pseudonym
from broker.saml import messages
from broker.web.database import db
from tests.mock_idp.support import BASE
from tests.mock_idp.support import BINDING
from tests.mock_idp.support import RP_ACS
from tests.mock_idp.support import StubFrontend
from tests.mock_idp.support import runtime_of

SP_ENTITY = BASE + "/connect/eherkenning/metadata"
ACS = BASE + "/connect/eherkenning/acs"
SSO = BASE + "/mock/eherkenning/sso"
OMZETBELASTING = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"
BAKERY_KVK, BAKERY_RSIN, BAKERY = "10000001", "999990172", "Bakkerij De Korenaar B.V."
OFFICE_KVK = "20000002"
EVA = employee_pseudonym(BAKERY_KVK, "eva")
SECRET = "JBSWY3DPEHPK3PXP"


def code() -> str:
    return engine.totp(SECRET, datetime.now(UTC))


def build_eh_app(tmp_path: Path,
                 plugins: dict[str, Any] | None = None) -> Flask:
    config = {
        "broker": {"base_url": BASE, "allow_mock_connectors": True},
        "connectors": {"eherkenning": {"type": "mock_eherkenning", "label": "eHerkenning"}},
        "frontends": {"rp": {"type": "stub"}},
        "plugins": plugins or {},
    }
    app = create_app(load_settings(config, instance_path=tmp_path, environ={}),
                     Components(frontends={"stub": StubFrontend}))
    rt = runtime_of(app)
    app.register_blueprint(create_mock_eherkenning(
        rt.context, csrf,
        service_providers=lambda: [c.sp_metadata() for c in rt.connectors.values()
                                   if isinstance(c, SamlServiceProvider)]))
    with app.app_context():
        seed(db.session())
    return app


@dataclass
class Started:
    flow_id: str
    request_id: str
    location: str


def start_eh_flow(app: Flask, min_loa: str = "substantial",
                  service: str = OMZETBELASTING) -> Started:
    """A flow started as a frontend would, sent on by the mock eHerkenning connector."""
    rt = runtime_of(app)
    with app.test_request_context():
        flow = rt.context.flows.start(
            browser_binding=BINDING, frontend="rp", requester="https://rp.example",
            requester_name="RP", service=service, min_loa=min_loa, return_to=RP_ACS,
            request={})
        response = rt.connectors["eherkenning"].start(flow)
        data = rt.context.store.get(flow_key(flow.id))
    assert response.status_code == 303 and data is not None
    return Started(flow.id, data["upstream_request_id"], response.location)


def flow_data(app: Flask, flow_id: str) -> dict[str, Any] | None:
    with app.app_context():
        data = runtime_of(app).context.store.get(flow_key(flow_id))
    return data


def eh_key(app: Flask) -> KeyPair:
    return runtime_of(app).context.key("mock-eherkenning")


def craft_eh(app: Flask, in_response_to: str, *, audience: str = SP_ENTITY,
             pseudonym: str | None = EVA, kvk: str | None = BAKERY_KVK,
             service: str = OMZETBELASTING, level: str = "substantial",
             extra: tuple[tuple[str, tuple[messages.AttributeValue, ...]], ...] = (),
             key: KeyPair | None = None) -> bytes:
    """A Response as mock eHerkenning would send it, with the given deviations."""
    now = datetime.now(UTC)
    attributes: list[tuple[str, tuple[messages.AttributeValue, ...]]] = [
        (SERVICE_UUID, (service,))]
    if pseudonym is not None:
        attributes.append((ACTING_SUBJECT_ID, (messages.NameIdValue(pseudonym, PSEUDO),)))
    if kvk is not None:
        attributes.append((LEGAL_SUBJECT_ID, (messages.NameIdValue(kvk, KVKNR),
                                              messages.NameIdValue(BAKERY_RSIN, RSIN))))
    attributes.append((COMPANY_NAME, (BAKERY,)))
    content = messages.AssertionContent(
        name_id="t1", authn_context=ETOEGANG_URI[level], authn_instant=now,
        authenticating_authorities=(ENTITY_ID,), attributes=(*attributes, *extra))
    return messages.build_response(
        issuer=ENTITY_ID, destination=ACS, in_response_to=in_response_to, audience=audience,
        content=content, key=key or eh_key(app), now=now)


def login_eh(client: FlaskClient, location: str, username: str, *,
             password: str = "demo", totp: str | None = None, action: str = "login") -> Any:
    """Follow the connector's redirect to mock eHerkenning and submit its login form."""
    from tests.mock_idp.support import open_login
    from tests.mock_idp.support import submit_login

    login_url, token = open_login(client, location)
    return submit_login(client, login_url, token, username, password=password,
                        code=code() if totp is None else totp, action=action)
