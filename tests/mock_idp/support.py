"""Shared by tests/mock_idp and tests/connectors: a broker with the mock DigiD connector, mock
DigiD mounted, a stub frontend that records what the core hands it, and SAML helpers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from broker.app import create_app
from broker.app import csrf
from broker.components import Components
from broker.components import SamlServiceProvider
from broker.config import load_settings
from broker.context import Continuation
from broker.demo.seed import seed
from broker.errors import BrokerError
from broker.flow import Flow
from broker.flow import flow_key
from broker.identity import Identity
from broker.keys import KeyPair
from broker.loa import EIDAS_URI
from broker.mock_idp.digid import ENTITY_ID
from broker.mock_idp.digid import create_mock_digid
from broker.saml import messages
from broker.saml import signing
from broker.saml.xml import DS
from broker.saml.xml import SAML
from broker.saml.xml import parse
from broker.web.database import db
from broker.web.runtime import Runtime

BASE = "http://localhost"
SP_ENTITY = BASE + "/connect/digid/metadata"
ACS = BASE + "/connect/digid/acs"
SSO = BASE + "/mock/digid/sso"
SERVICE = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"
BINDING = "b" * 40
RP_ACS = "https://rp.example/acs"
RP_ERROR = "https://rp.example/error"
ACTING = "urn:nl-eid-gdi:1.0:ActingSubjectID"
LEGACY_BSN = "urn:nl-eid-gdi:1.0:id:legacy-BSN"
JAN_BSN = "999993653"


@dataclass
class StubFrontend:
    """A frontend that records identities and errors instead of answering a real RP."""

    name: str
    context: Any
    blueprint: Blueprint = field(init=False)
    identities: list[Identity] = field(default_factory=list)
    errors: list[BrokerError] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.blueprint = Blueprint(f"stub_{self.name}", __name__)

    def respond(self, identity: Identity, flow: Flow) -> Continuation:
        self.identities.append(identity)
        return Continuation("POST", RP_ACS, {"ok": "1"})

    def respond_error(self, error: BrokerError, flow: Flow) -> Continuation:
        self.errors.append(error)
        return Continuation("GET", RP_ERROR)


def build_app(tmp_path: Path) -> Flask:
    config = {
        "broker": {"base_url": BASE, "allow_mock_connectors": True},
        "connectors": {"digid": {"type": "mock_digid", "label": "DigiD"}},
        "frontends": {"rp": {"type": "stub"}},
    }
    app = create_app(load_settings(config, instance_path=tmp_path, environ={}),
                     Components(frontends={"stub": StubFrontend}))
    rt = runtime_of(app)
    app.register_blueprint(create_mock_digid(
        rt.context, csrf,
        service_providers=lambda: [c.sp_metadata() for c in rt.connectors.values()
                                   if isinstance(c, SamlServiceProvider)]))
    with app.app_context():
        seed(db.session())
    return app


def runtime_of(app: Flask) -> Runtime:
    rt = app.extensions["broker"]
    assert isinstance(rt, Runtime)
    return rt


def stub(app: Flask) -> StubFrontend:
    frontend = runtime_of(app).frontends["rp"]
    assert isinstance(frontend, StubFrontend)
    return frontend


@dataclass
class Started:
    flow_id: str
    request_id: str
    location: str


def start_flow(app: Flask, min_loa: str = "substantial") -> Started:
    """A flow started as a frontend would, sent on by the mock DigiD connector."""
    rt = runtime_of(app)
    with app.test_request_context():
        flow = rt.context.flows.start(
            browser_binding=BINDING, frontend="rp", requester="https://rp.example",
            requester_name="RP", service=SERVICE, min_loa=min_loa, return_to=RP_ACS,
            request={})
        response = rt.connectors["digid"].start(flow)
        data = rt.context.store.get(flow_key(flow.id))
    assert response.status_code == 303 and data is not None
    return Started(flow.id, data["upstream_request_id"], response.location)


def flow_state(app: Flask, flow_id: str) -> str | None:
    """The flow's state, or None once it is gone (failed or completed)."""
    with app.app_context():
        data = runtime_of(app).context.store.get(flow_key(flow_id))
    return data["state"] if data else None


def assert_not_authenticated(app: Flask, flow_id: str) -> None:
    assert flow_state(app, flow_id) in (None, "upstream")
    assert stub(app).identities == []


def mock_key(app: Flask) -> KeyPair:
    return runtime_of(app).context.key("mock-digid")


def craft(app: Flask, in_response_to: str, *, now: datetime | None = None,
          audience: str = SP_ENTITY, destination: str = ACS, bsn: str = JAN_BSN,
          level: str = "substantial", key: KeyPair | None = None, name_id: str = "t1",
          attributes: bool = True) -> bytes:
    """A Response as mock DigiD would send it, with the given deviations."""
    now = now or datetime.now(UTC)
    content = messages.AssertionContent(
        name_id=name_id, authn_context=EIDAS_URI[level], authn_instant=now,
        authenticating_authorities=(ENTITY_ID,),
        attributes=((ACTING, (messages.NameIdValue(bsn, LEGACY_BSN),)),) if attributes else ())
    return messages.build_response(
        issuer=ENTITY_ID, destination=destination, in_response_to=in_response_to,
        audience=audience, content=content, key=key or mock_key(app), now=now)


def resign(document: bytes, key: KeyPair | None, *,
           response: Callable[[etree._Element], None] | None = None,
           assertion: Callable[[etree._Element], None] | None = None) -> bytes:
    """Strip both signatures, change the Response and/or Assertion, sign again with ``key``
    (None: leave both unsigned)."""
    root = parse(document)
    node = root.find(SAML + "Assertion")
    assert node is not None
    index = root.index(node)
    root.remove(node)
    for element in (root, node):
        for signature in element.findall(DS + "Signature"):
            element.remove(signature)
    if response:
        response(root)
    if assertion:
        assertion(node)
    root.insert(index, signing.sign(node, key) if key else node)
    signed = signing.sign(root, key) if key else root
    return etree.tostring(signed)


def post_response(client: FlaskClient, document: bytes, url: str = ACS) -> Any:
    from broker.saml.bindings import encode_post

    return client.post(url.removeprefix(BASE), data={"SAMLResponse": encode_post(document)})


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no csrf token on the page"
    return match.group(1)


def posted_fields(html: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of an auto-submitting POST page."""
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    assert action, html[:500]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    return action.group(1), fields


def open_login(client: FlaskClient, location: str) -> tuple[str, str]:
    """Follow the connector's redirect to mock DigiD; the login page URL and its csrf token."""
    response = client.get(location.removeprefix(BASE))
    assert response.status_code == 303, response.text[:500]
    login_url = response.location.removeprefix(BASE)
    page = client.get(login_url)
    assert page.status_code == 200
    return login_url, csrf_token(page.text)


def submit_login(client: FlaskClient, login_url: str, token: str, username: str,
                 password: str = "demo", code: str = "", action: str = "login") -> Any:
    return client.post(login_url, data={"csrf_token": token, "username": username,
                                         "password": password, "code": code, "action": action})
