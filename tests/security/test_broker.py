"""Adversarial tests of the protocol translation (catalogue section 3, BRK-01…09).

Three apps: ``both`` has the OIDC and the SAML IdP frontends in front of fake upstreams (DigiD
twice, so the upstream choice exists, and eHerkenning); the section-1 ACS app (real mock DigiD
connector, stub frontend) receives crafted upstream Responses; ``demo_app`` (real mock
connectors) shows what the broker asks upstream. Every refusal also asserts that nothing was
issued: no code, no Assertion, no flow left that a retry could use.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from flask import Flask
from flask import current_app
from lxml import etree

from broker.app import create_app
from broker.components import Components
from broker.config import Settings
from broker.demo.seed import seed
from broker.flow import FLOW_KEYS
from broker.flow import flow_key
from broker.frontends.oidc import register_client
from broker.frontends.oidc import tokens
from broker.frontends.saml_idp import SamlIdpFrontend
from broker.frontends.saml_idp.providers import register_service_provider
from broker.identity import Identity
from broker.identity import Party
from broker.keys import KeyPair
from broker.mock_idp.digid import ENTITY_ID as MOCK_DIGID
from broker.saml import messages
from broker.saml.metadata import sp_descriptor
from broker.saml.xml import SAML
from broker.web.database import db
from broker.web.runtime import runtime
from tests.fakes import FakeConnector
from tests.frontends.oidc.conftest import BSN_SECRET
from tests.frontends.oidc.conftest import REDIRECT_URI
from tests.frontends.oidc.conftest import SECRET
from tests.frontends.oidc.conftest import Pkce
from tests.frontends.oidc.conftest import authorize_params
from tests.frontends.oidc.conftest import query
from tests.frontends.oidc.conftest import redeem
from tests.frontends.saml_idp.conftest import INKOMSTEN
from tests.frontends.saml_idp.conftest import JAN
from tests.frontends.saml_idp.conftest import OMZETBELASTING
from tests.frontends.saml_idp.conftest import SP_ACS
from tests.frontends.saml_idp.conftest import SP_ENTITY_ID
from tests.frontends.saml_idp.conftest import UPSTREAM_DIGID
from tests.frontends.saml_idp.conftest import citizen
from tests.frontends.saml_idp.conftest import follow
from tests.mock_idp import support as acs_support
from tests.mock_idp.support import csrf_token
from tests.security import test_saml_idp as saml_idp_tests
from tests.security.test_saml_idp import LOA
from tests.security.test_saml_idp import assertion_of
from tests.security.test_saml_idp import authn_request
from tests.security.test_saml_idp import redirect_get
from tests.security.test_saml_idp import scoping
from tests.security.test_saml_idp import upstream_request
from tests.services import stored_state

demo_app = saml_idp_tests.demo_app

ETD = "urn:etoegang:core:assurance-class:loa"
ATTACKER = "attacker.test"
UPSTREAM_INSTANT = datetime(2026, 11, 23, 9, 0, 7, tzinfo=UTC)


@pytest.fixture
def config() -> dict[str, Any]:
    return {"broker": {"base_url": "http://localhost", "allow_mock_connectors": True},
            "connectors": {"digid": {"type": "fake", "idp_entity_id": UPSTREAM_DIGID},
                           "digid-test": {"type": "fake"},
                           "eh": {"type": "fake", "via": "eherkenning"}},
            "frontends": {"saml": {"type": "saml_idp"}, "oidc": {"type": "oidc"}}}


@pytest.fixture
def both(settings: Settings) -> Iterator[Flask]:
    """OIDC and SAML IdP frontends, fake DigiD (twice) and eHerkenning, clients and an SP."""
    app = create_app(settings, Components(connectors={"fake": FakeConnector}))
    app.config["TESTING"] = True
    with app.app_context():
        seed(db.session())
        register_client(db.session(), client_id="rp-pseudo", redirect_uris=[REDIRECT_URI],
                        secret=SECRET)
        register_client(db.session(), client_id="rp-two", redirect_uris=[REDIRECT_URI],
                        secret=SECRET)
        register_client(db.session(), client_id="rp-bsn", redirect_uris=[REDIRECT_URI],
                        secret=BSN_SECRET, may_receive_bsn=True)
        register_service_provider(
            db.session(), metadata=sp_descriptor(
                entity_id=SP_ENTITY_ID, key=_sp_key(), acs_url=SP_ACS,
                services=[(1, "Inkomstenbelasting", INKOMSTEN),
                          (2, "Omzetbelasting", OMZETBELASTING)]),
            service=INKOMSTEN, catalogue=runtime().context.catalogue())
        yield app


@pytest.fixture
def browser(both: Flask) -> Any:
    return both.test_client()


@pytest.fixture
def acs_app(tmp_path: Path) -> Flask:
    """The section-1 ACS app: real mock DigiD connector, stub frontend."""
    return acs_support.build_app(tmp_path / "acs")


def saml_request(**changes: Any) -> bytes:
    """An AuthnRequest of the test SP that names the DigiD upstream (two DigiD connectors)."""
    return authn_request(scoping=scoping(UPSTREAM_DIGID), **changes)


def _sp_key() -> KeyPair:
    return runtime().context.key("test-sp")


def _connector(name: str) -> FakeConnector:
    connector = runtime().connectors[name]
    assert isinstance(connector, FakeConnector)
    return connector


def _stored(prefix: str) -> int:
    return len(stored_state(current_app, prefix))


def _authorize(browser: Any, client_id: str = "rp-pseudo", pkce: Pkce | None = None,
               **overrides: str | None) -> Any:
    return browser.get("/oidc/authorize", query_string=authorize_params(
        client_id, pkce, **overrides))


def _oidc_login(browser: Any, identity: Identity, client_id: str = "rp-pseudo",
                secret: str = SECRET, **overrides: str | None) -> dict[str, Any]:
    """A whole OIDC login through the upstream ``identity.connector``: the token response."""
    pkce = Pkce()
    _connector(identity.connector).identity = identity
    answer = query(local(browser, _authorize(browser, client_id, pkce, **overrides))
                   .headers["Location"])
    assert "code" in answer, answer
    response = redeem(browser, answer["code"], pkce, client_id=client_id, secret=secret)
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(response.get_json())


def local(browser: Any, response: Any, limit: int = 8) -> Any:
    """Follow the broker's own redirects; stop at one that leaves the broker (the RP)."""
    for _ in range(limit):
        location = response.headers.get("Location", "")
        if response.status_code not in (302, 303) or not location.startswith(
                ("/", "http://localhost/")):
            return response
        response = browser.get(location)
    raise AssertionError("too many redirects")


def _claims(browser: Any, id_token: str) -> dict[str, Any]:
    from joserfc import jwt
    from joserfc.jwk import KeySet

    keys = KeySet.import_key_set(browser.get("/oidc/jwks").get_json())
    return dict(jwt.decode(id_token, keys, algorithms=["RS256", "ES256"]).claims)


def _assert_oidc_error(response: Any, error: str) -> None:
    """The OAuth error for the registered redirect_uri (behind the error page's button, where
    the person should read why), no code, nothing left in the store."""
    assert response.status_code == 403, response.status_code
    assert "Location" not in response.headers
    links = lxml.html.fromstring(response.get_data(as_text=True)).xpath("//a[@class='button']")
    [location] = [link.get("href") for link in links]
    assert isinstance(location, str) and location.startswith(REDIRECT_URI + "?")
    answer = query(location)
    assert answer["error"] == error and "code" not in answer
    assert _stored(tokens.CODE_KEYS) == 0 and _stored(tokens.TOKEN_KEYS) == 0
    assert _stored(FLOW_KEYS) == 0


def person(connector: str = "digid", loa: str = "substantial", bsn: str = JAN) -> Identity:
    return Identity(acting=Party(id=bsn, id_type="bsn"), loa=loa, connector=connector,
                    authn_instant=UPSTREAM_INSTANT, upstream_issuer=UPSTREAM_DIGID)


def employee(pseudonym: str, loa: str = "substantial") -> Identity:
    return Identity(acting=Party(id=pseudonym, id_type="pseudonym"),
                    organisation=Party(id="90000001", id_type="kvk", name="Bakkerij"),
                    loa=loa, connector="eh", authn_instant=UPSTREAM_INSTANT,
                    upstream_issuer="urn:mock:eherkenning")


# --- BRK-01: an upstream asserting what it may not ------------------------------------------


def test_brk_01_other_idps_signed_assertion_for_the_live_request_is_refused_at_the_acs(
        acs_app: Flask, tmp_path: Path) -> None:
    """A second IdP (its own issuer, its own valid key) answers the flow's live request with
    the victim's BSN: refused, and the person's flow still waits for the genuine answer."""
    from broker import keys

    started = acs_support.start_flow(acs_app)
    other = keys.load_or_create(tmp_path, "weaker-idp")
    for issuer in ("urn:test:weaker-idp", MOCK_DIGID):
        content = messages.AssertionContent(
            name_id="t1", authn_context=LOA + "high", authn_instant=datetime.now(UTC),
            attributes=((acs_support.ACTING, (messages.NameIdValue(
                "999990676", acs_support.LEGACY_BSN),)),))
        document = messages.build_response(
            issuer=issuer, destination=acs_support.ACS, in_response_to=started.request_id,
            audience=acs_support.SP_ENTITY, content=content, key=other)
        response = acs_support.post_response(acs_app.test_client(), document)
        assert response.status_code in (400, 403, 502)
        assert "/flow/" not in response.headers.get("Location", "")
    acs_support.assert_not_authenticated(acs_app, started.flow_id)
    assert acs_support.flow_state(acs_app, started.flow_id) == "upstream"


def test_brk_01_upstream_of_another_kind_cannot_finish_a_citizen_flow(
        both: Flask, browser: Any) -> None:
    """The upstream choice offers only connectors for the service's kind: eHerkenning (or an
    invented name) cannot be chosen to authenticate for a DigiD service."""
    response = _authorize(browser)
    assert response.status_code == 303 and "/flow/" in response.headers["Location"]
    page = browser.get(response.headers["Location"])
    token = csrf_token(page.get_data(as_text=True))
    for choice in ("eh", f"https://{ATTACKER}/idp", ""):
        refused = browser.post(response.headers["Location"],
                               data={"connector": choice, "csrf_token": token})
        assert refused.status_code == 400
        assert "Location" not in refused.headers
    assert _connector("eh").started == [] and _connector("digid").started == []
    assert _stored(tokens.CODE_KEYS) == 0


def test_brk_01_mock_eherkenning_will_not_take_a_bsn_as_its_acting_subject(
        demo_app: Flask) -> None:
    """eHerkenning vouches for employees by pseudonym; an ActingSubjectID qualified as BSN (a
    citizen identity it may not assert) names nobody."""
    from broker.errors import UpstreamResponseError
    from broker.saml import names

    connector = runtime().connectors["eherkenning"]
    verified = messages.VerifiedAssertion(
        response_id="_r", assertion_id="_a", issuer="urn:mock:eh", in_response_to="_q",
        name_id="t", name_id_format=None, authn_context=ETD + "3",
        authn_instant=datetime.now(UTC), session_index=None, not_on_or_after=datetime.now(UTC),
        attributes={names.ETD_ACTING_SUBJECT_ID: ("urn:etoegang:1.9:EntityConcernedID:BSN|"
                                                  + JAN,),
                    names.ETD_LEGAL_SUBJECT_ID: (names.ETD_KVKNR + "|90000001",)})
    with pytest.raises(UpstreamResponseError):
        connector.identity(verified)  # type: ignore[attr-defined]


# --- BRK-02: level mapping ------------------------------------------------------------------


def test_brk_02_oidc_acr_values_above_upstream_level_gets_access_denied_and_no_code(
        both: Flask, browser: Any) -> None:
    digid = _connector("digid")
    digid.identity = person(loa="substantial")
    response = local(browser, _authorize(browser, acr_values=LOA + "high", idp_hint="digid"))
    assert digid.started[-1].min_loa == "high"
    _assert_oidc_error(response, "access_denied")


def test_brk_02_acr_and_authn_context_name_the_level_upstream_delivered(
        both: Flask, browser: Any) -> None:
    """Asked substantial, upstream gave high: the token says high (the fact), never more than
    upstream gave; the SAML answer for an eHerkenning service uses the eTD class."""
    tokens = _oidc_login(browser, person(loa="high"), acr_values=LOA + "substantial",
                         idp_hint="digid")
    assert _claims(browser, tokens["id_token"])["acr"] == LOA + "high"
    eh = _connector("eh")
    eh.identity, eh.direct = employee("emp-1", loa="substantial"), True
    page = follow(browser, redirect_get(browser, authn_request(index=2, contexts=(ETD + "3",)),
                                        _sp_key()))
    idp = runtime().frontends["saml"]
    assert isinstance(idp, SamlIdpFrontend)
    assertion = assertion_of(page, idp)
    assert [n.text for n in assertion.iter(SAML + "AuthnContextClassRef")] == [ETD + "3"]


def test_brk_02_upstream_is_asked_for_at_least_the_flow_level(demo_app: Flask) -> None:
    browser = demo_app.test_client()
    response = redirect_get(browser, authn_request(contexts=(LOA + "high",)),
                            runtime().context.key("test-sp"))
    upstream = upstream_request(response.headers["Location"])
    context = upstream.find("{urn:oasis:names:tc:SAML:2.0:protocol}RequestedAuthnContext")
    assert context is not None and context.get("Comparison") == "minimum"
    assert [n.text for n in context] == [LOA + "high"]


# --- BRK-03: no silent reuse at a higher level ----------------------------------------------


def test_brk_03_second_rp_demanding_higher_level_gets_a_new_upstream_login(
        both: Flask, browser: Any) -> None:
    """RP-1 (SAML) logged in at substantial; RP-2 (OIDC) in the same browser demands high.
    The broker keeps no session: a new upstream authentication is started, and the earlier
    substantial login is not reused (upstream substantial again: access_denied, no code)."""
    digid = _connector("digid")
    digid.identity = person(loa="substantial")
    idp = runtime().frontends["saml"]
    assert isinstance(idp, SamlIdpFrontend)
    page = follow(browser, redirect_get(browser, saml_request(), _sp_key()))
    assertion_of(page, idp)
    assert len(digid.started) == 1
    response = _authorize(browser, client_id="rp-two", acr_values=LOA + "high",
                          idp_hint="digid")
    assert response.headers["Location"].endswith("/connect/digid/done")
    assert len(digid.started) == 2 and digid.started[-1].min_loa == "high"
    _assert_oidc_error(local(browser, response), "access_denied")


# --- BRK-04: stale authentication -----------------------------------------------------------


def test_brk_04_auth_time_and_authn_instant_are_the_upstream_authn_instant(
        both: Flask, browser: Any) -> None:
    tokens = _oidc_login(browser, person(), idp_hint="digid")
    assert _claims(browser, tokens["id_token"])["auth_time"] == int(UPSTREAM_INSTANT.timestamp())
    _connector("digid").identity = person()
    idp = runtime().frontends["saml"]
    assert isinstance(idp, SamlIdpFrontend)
    assertion = assertion_of(follow(browser, redirect_get(
        browser, saml_request(), _sp_key())), idp)
    [statement] = assertion.iter(SAML + "AuthnStatement")
    assert statement.get("AuthnInstant") == "2026-11-23T09:00:07Z"


@pytest.mark.parametrize("param", [{"prompt": "login"}, {"max_age": "1"}, {"max_age": "0"}])
def test_brk_04_prompt_login_and_max_age_become_upstream_force_authn(
        demo_app: Flask, param: dict[str, str]) -> None:
    register_client(db.session(), client_id="rp-pseudo", redirect_uris=[REDIRECT_URI],
                    secret=SECRET)
    browser = demo_app.test_client()
    response = browser.get("/oidc/authorize", query_string=authorize_params(
        scope=f"openid urn:uuid:{INKOMSTEN}", idp_hint="digid") | param)
    assert response.status_code == 303
    assert upstream_request(response.headers["Location"]).get("ForceAuthn") == "true"


def _fresh_flow(app: Flask, *, started: datetime | None = None,
                **demands: Any) -> acs_support.Started:
    """A flow that demands a fresh authentication (``force_authn`` / ``max_age``), sent on by
    the mock DigiD connector; ``started`` backdates the flow's start."""
    rt = acs_support.runtime_of(app)
    with app.test_request_context():
        flow = rt.context.flows.start(
            browser_binding=acs_support.BINDING, frontend="rp", requester="https://rp.example",
            requester_name="RP", service=acs_support.SERVICE, min_loa="substantial",
            return_to=acs_support.RP_ACS, request={}, **demands)
        if started is not None:
            flow.created_at = started.isoformat()
        response = rt.connectors["digid"].start(flow)
        data = rt.context.store.get(flow_key(flow.id))
    assert response.status_code == 303 and data is not None
    assert upstream_request(response.location).get("ForceAuthn") == "true"
    return acs_support.Started(flow.id, data["upstream_request_id"], response.location)


def _authenticated_at(app: Flask, request_id: str, instant: datetime) -> bytes:
    """Mock DigiD's signed answer, issued now, saying it authenticated the person at
    ``instant`` (as an upstream answering from its own earlier session would)."""
    def backdate(assertion: etree._Element) -> None:
        [statement] = assertion.iter(SAML + "AuthnStatement")
        statement.set("AuthnInstant", messages.instant(instant))

    return acs_support.resign(acs_support.craft(app, request_id), acs_support.mock_key(app),
                              assertion=backdate)


def _assert_refused_as_stale(app: Flask, response: Any, flow_id: str) -> None:
    """Refused at the ACS after the genuine answer was claimed: an error for the relying
    party, no identity handed to the frontend, the flow gone."""
    assert response.status_code == 400
    assert "opnieuw laten inloggen" in response.get_data(as_text=True)
    stub = acs_support.stub(app)
    assert stub.identities == []
    assert [type(error).__name__ for error in stub.errors] == ["UpstreamResponseError"]
    assert acs_support.flow_state(app, flow_id) is None


@pytest.mark.parametrize("demands", [{"force_authn": True}, {"max_age": 3600}],
                         ids=["force-authn", "max-age"])
def test_brk_04_authn_instant_from_before_the_flow_is_refused_at_the_acs(
        acs_app: Flask, demands: dict[str, Any]) -> None:
    """ForceAuthn asked, but the upstream answers from a session an hour old (AuthnInstant
    before the flow began): refused, nothing issued."""
    started = _fresh_flow(acs_app, **demands)
    stale = datetime.now(UTC) - timedelta(hours=1)
    response = acs_support.post_response(
        acs_app.test_client(), _authenticated_at(acs_app, started.request_id, stale))
    _assert_refused_as_stale(acs_app, response, started.flow_id)


def test_brk_04_authn_instant_older_than_max_age_is_refused_at_the_acs(
        acs_app: Flask) -> None:
    """The flow has waited two hours; upstream authenticated during it, but an hour ago,
    more than max_age=600 (plus clock skew) before its answer: refused, nothing issued."""
    now = datetime.now(UTC)
    started = _fresh_flow(acs_app, max_age=600, started=now - timedelta(hours=2))
    response = acs_support.post_response(
        acs_app.test_client(),
        _authenticated_at(acs_app, started.request_id, now - timedelta(hours=1)))
    _assert_refused_as_stale(acs_app, response, started.flow_id)


@pytest.mark.parametrize("demands", [{"force_authn": True}, {"max_age": 0}],
                         ids=["force-authn", "max-age-0"])
def test_brk_04_fresh_authn_instant_is_accepted(acs_app: Flask,
                                                demands: dict[str, Any]) -> None:
    started = _fresh_flow(acs_app, **demands)
    response = acs_support.post_response(
        acs_app.test_client(), acs_support.craft(acs_app, started.request_id))
    assert response.status_code == 303
    assert acs_support.flow_state(acs_app, started.flow_id) == "authenticated"


def test_brk_04_without_a_demand_an_earlier_upstream_session_is_accepted(
        acs_app: Flask) -> None:
    """No ForceAuthn asked: an upstream SSO session is the upstream's business."""
    started = acs_support.start_flow(acs_app)
    earlier = datetime.now(UTC) - timedelta(hours=1)
    response = acs_support.post_response(
        acs_app.test_client(), _authenticated_at(acs_app, started.request_id, earlier))
    assert response.status_code == 303
    assert acs_support.flow_state(acs_app, started.flow_id) == "authenticated"


@pytest.mark.parametrize("param", [{}, {"prompt": "select_account"}],
                         ids=["nothing", "select-account"])
def test_brk_04_without_prompt_login_or_max_age_no_force_authn_goes_upstream(
        demo_app: Flask, param: dict[str, str]) -> None:
    register_client(db.session(), client_id="rp-pseudo", redirect_uris=[REDIRECT_URI],
                    secret=SECRET)
    response = demo_app.test_client().get("/oidc/authorize", query_string=authorize_params(
        scope=f"openid urn:uuid:{INKOMSTEN}", idp_hint="digid") | param)
    assert response.status_code == 303
    assert upstream_request(response.headers["Location"]).get("ForceAuthn") is None


@pytest.mark.parametrize("max_age", ["-1", "1.5", "abc", "+1", " 1", "1_0", "1e3", "\u0661"])
def test_brk_04_invalid_max_age_gets_invalid_request_and_no_flow(
        both: Flask, browser: Any, max_age: str) -> None:
    response = _authorize(browser, idp_hint="digid", max_age=max_age)
    assert response.status_code == 303
    answer = query(response.headers["Location"])
    assert answer["error"] == "invalid_request" and "code" not in answer
    assert _stored(FLOW_KEYS) == 0 and _connector("digid").started == []


# --- BRK-05: upstream choice injection ------------------------------------------------------


@pytest.mark.parametrize("hint", [f"https://{ATTACKER}/idp", "eh", "DIGID", "digid ",
                                  "../digid", "javascript:alert(1)"])
def test_brk_05_idp_hint_outside_the_eligible_upstreams_is_ignored(
        both: Flask, browser: Any, hint: str) -> None:
    """Unknown or ineligible hints choose nothing: the person gets the upstream choice among
    the eligible DigiD connectors; no upstream was started, no redirect leaves the broker."""
    response = _authorize(browser, idp_hint=hint)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/flow/") and location.endswith("/upstream")
    assert ATTACKER not in location
    assert all(_connector(name).started == [] for name in ("digid", "digid-test", "eh"))
    page = browser.get(location).get_data(as_text=True)
    assert 'value="eh"' not in page and ATTACKER not in page


# --- BRK-06: attribute ambiguity ------------------------------------------------------------


def _with_attributes(app: Flask, request_id: str, mutate: Any) -> bytes:
    legit = acs_support.craft(app, request_id)
    return acs_support.resign(legit, acs_support.mock_key(app), assertion=mutate)


def _statement(assertion: etree._Element) -> etree._Element:
    found = assertion.find(SAML + "AttributeStatement")
    assert found is not None
    return found


def _second_bsn_value(assertion: etree._Element) -> None:
    attribute = _statement(assertion).find(SAML + "Attribute")
    assert attribute is not None
    value = etree.SubElement(attribute, SAML + "AttributeValue")
    etree.SubElement(value, SAML + "NameID", {"NameQualifier": acs_support.LEGACY_BSN}).text = (
        "999990676")


def _duplicate_attribute(assertion: etree._Element) -> None:
    attribute = _statement(assertion).find(SAML + "Attribute")
    assert attribute is not None
    evil = etree.fromstring(etree.tostring(attribute))
    for node in evil.iter(SAML + "NameID"):
        node.text = "999990676"
    _statement(assertion).append(evil)


def _other_name_format(assertion: etree._Element) -> None:
    """Same Name again under the basic NameFormat, carrying another BSN."""
    _duplicate_attribute(assertion)
    _statement(assertion)[-1].set(
        "NameFormat", "urn:oasis:names:tc:SAML:2.0:attrname-format:basic")


@pytest.mark.parametrize("mutate", [_second_bsn_value, _duplicate_attribute,
                                    _other_name_format],
                         ids=["multi-valued", "same-name-twice", "same-name-other-format"])
def test_brk_06_ambiguous_acting_subject_is_refused(acs_app: Flask, mutate: Any) -> None:
    started = acs_support.start_flow(acs_app)
    document = _with_attributes(acs_app, started.request_id, mutate)
    response = acs_support.post_response(acs_app.test_client(), document)
    assert response.status_code in (400, 403, 502)
    assert acs_support.stub(acs_app).identities == []
    assert acs_support.flow_state(acs_app, started.flow_id) in (None, "upstream")


def test_brk_06_friendly_name_is_never_used_to_map(acs_app: Flask) -> None:
    """An attribute with another Name but FriendlyName ActingSubjectID does not count."""
    def friendly(assertion: etree._Element) -> None:
        _duplicate_attribute(assertion)
        evil = _statement(assertion)[-1]
        evil.set("FriendlyName", acs_support.ACTING)
        evil.set("Name", "urn:example:not-acting")

    started = acs_support.start_flow(acs_app)
    document = _with_attributes(acs_app, started.request_id, friendly)
    response = acs_support.post_response(acs_app.test_client(), document)
    assert response.status_code == 303
    assert acs_support.flow_state(acs_app, started.flow_id) == "authenticated"
    with acs_app.app_context():
        data = acs_support.runtime_of(acs_app).context.store.get(flow_key(started.flow_id))
    assert data is not None and data["identity"]["acting"]["id"] == JAN


# --- BRK-07: claim content ------------------------------------------------------------------

HOSTILE = '<b onmouseover="x">&amp;</b>]]><!--'


def test_brk_07_hostile_identifier_is_encoded_in_the_assertion_and_hidden_from_oidc(
        both: Flask, browser: Any) -> None:
    eh = _connector("eh")
    eh.identity, eh.direct = employee(HOSTILE), True  # straight to the answer: no mandate needed
    idp = runtime().frontends["saml"]
    assert isinstance(idp, SamlIdpFrontend)
    page = follow(browser, redirect_get(browser, authn_request(index=2), _sp_key()))
    assertion = assertion_of(page, idp)
    assert not list(assertion.iter("b"))
    texts = [n.text for n in assertion.iter(SAML + "NameID")]
    assert HOSTILE in texts
    assert HOSTILE not in page.get_data(as_text=True)
    tokens = _oidc_login(browser, employee(HOSTILE), scope=f"openid urn:uuid:{OMZETBELASTING}")
    claims = _claims(browser, tokens["id_token"])
    assert HOSTILE not in str(claims) and claims["sub_id_type"] != "bsn"


@pytest.mark.parametrize("pseudonym", ["emp\n1", "emp\r\nSet-Cookie: x=1", "e" * 121,
                                       "emp\x00", "emp\u202e1"],
                         ids=["newline", "header-injection", "too-long", "nul", "bidi"])
def test_brk_07_mock_eherkenning_refuses_unusable_pseudonyms(
        demo_app: Flask, pseudonym: str) -> None:
    from broker.errors import UpstreamResponseError
    from broker.saml import names

    connector = runtime().connectors["eherkenning"]
    verified = messages.VerifiedAssertion(
        response_id="_r", assertion_id="_a", issuer="urn:mock:eh", in_response_to="_q",
        name_id="t", name_id_format=None, authn_context=ETD + "3",
        authn_instant=datetime.now(UTC), session_index=None, not_on_or_after=datetime.now(UTC),
        attributes={names.ETD_ACTING_SUBJECT_ID: (names.ETD_PSEUDO + "|" + pseudonym,),
                    names.ETD_LEGAL_SUBJECT_ID: (names.ETD_KVKNR + "|90000001",),
                    names.ETD_COMPANY_NAME: ("<script>x</script>\n" + "n" * 5000,)})
    with pytest.raises(UpstreamResponseError):
        connector.identity(verified)  # type: ignore[attr-defined]


# --- BRK-09: subject identifiers ------------------------------------------------------------


def test_brk_09_sub_is_pairwise_per_client_and_bsn_only_for_the_entitled_client(
        both: Flask, browser: Any) -> None:
    subs = {}
    for client_id, secret in (("rp-pseudo", SECRET), ("rp-two", SECRET),
                              ("rp-bsn", BSN_SECRET)):
        tokens = _oidc_login(browser, person(), client_id=client_id, secret=secret,
                             idp_hint="digid")
        subs[client_id] = _claims(browser, tokens["id_token"])["sub"]
    assert subs["rp-bsn"] == JAN
    assert JAN not in (subs["rp-pseudo"], subs["rp-two"])
    assert subs["rp-pseudo"] != subs["rp-two"]
    again = _oidc_login(browser, person(), client_id="rp-pseudo", idp_hint="digid")
    assert _claims(browser, again["id_token"])["sub"] == subs["rp-pseudo"]


# --- sanity ---------------------------------------------------------------------------------


def test_control_saml_login_through_both_app_works(both: Flask, browser: Any) -> None:
    _connector("digid").identity = citizen()
    idp = runtime().frontends["saml"]
    assert isinstance(idp, SamlIdpFrontend)
    page = follow(browser, redirect_get(browser, saml_request(), _sp_key()))
    assertion = assertion_of(page, idp)
    assert assertion.find(f"{SAML}AttributeStatement") is not None
