"""Adversarial tests of the broker as SAML identity provider (catalogue section 2, IDP-01…14).

Every test crafts the malicious AuthnRequest itself and checks both the refusal (an error page
with no form to any address, or a signed error Response to the ACS the SP's metadata lists)
and that nothing changed: no flow in the state store, no flow started at the (fake) upstream,
no Response with an Assertion. The app is the SAML IdP frontend tests' app (fake DigiD and
eHerkenning connectors, demo services, one registered SP that signs its requests), built here
because this folder's ``app`` fixture is the SAML-SP stub app.
"""

from __future__ import annotations

import copy
import time
import zlib
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask import current_app
from lxml import etree

from broker import keys
from broker.app import create_app
from broker.components import Components
from broker.config import Settings
from broker.config import demo_config
from broker.config import load_settings
from broker.demo.seed import seed
from broker.flow import FLOW_KEYS
from broker.frontends.saml_idp import SamlIdpFrontend
from broker.frontends.saml_idp.providers import register_service_provider
from broker.keys import KeyPair
from broker.saml import bindings
from broker.saml import signing
from broker.saml.messages import build_authn_request
from broker.saml.messages import new_id
from broker.saml.metadata import sp_descriptor
from broker.saml.xml import DS
from broker.saml.xml import MD
from broker.saml.xml import NS
from broker.saml.xml import SAML
from broker.saml.xml import SAMLP
from broker.saml.xml import parse
from broker.saml.xml import tostring
from broker.web.database import db
from broker.web.runtime import runtime
from tests.fakes import FakeConnector
from tests.frontends.saml_idp import conftest as saml_idp_fixtures
from tests.frontends.saml_idp.conftest import INKOMSTEN
from tests.frontends.saml_idp.conftest import SP_ACS
from tests.frontends.saml_idp.conftest import SP_ENTITY_ID
from tests.frontends.saml_idp.conftest import UPSTREAM_DIGID
from tests.frontends.saml_idp.conftest import citizen
from tests.frontends.saml_idp.conftest import follow
from tests.frontends.saml_idp.conftest import posted_form
from tests.services import stored_state
from tests.xml_support import child

# The SAML IdP frontend tests' fixtures, used here by name.
components = saml_idp_fixtures.components
config = saml_idp_fixtures.config
digid = saml_idp_fixtures.digid
idp = saml_idp_fixtures.idp
registered = saml_idp_fixtures.registered
seeded = saml_idp_fixtures.seeded
sp_key = saml_idp_fixtures.sp_key
sp_metadata = saml_idp_fixtures.sp_metadata

SSO = "http://localhost/saml/idp/sso"
OTHER_SP = "https://other-sp.example.nl/saml/metadata"
OTHER_ACS = "https://other-sp.example.nl/saml/acs"
ATTACKER = "attacker.test"
STATUS = "urn:oasis:names:tc:SAML:2.0:status:"
LOA = "http://eidas.europa.eu/LoA/"
SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"


@pytest.fixture
def app(settings: Settings, components: Components) -> Iterator[Flask]:
    """The SAML IdP frontend tests' app (their ``config``), not this folder's stub app."""
    app = create_app(settings, components)
    app.config["TESTING"] = True
    with app.app_context():
        yield app


@pytest.fixture
def eh(app: Flask) -> FakeConnector:
    connector = runtime().connectors["eh"]
    assert isinstance(connector, FakeConnector)
    return connector


@pytest.fixture
def other_key(app: Flask) -> KeyPair:
    return runtime().context.key("other-sp")


@pytest.fixture
def other_sp(registered: None, other_key: KeyPair) -> None:
    """A second registered SP (for the same service), which does not sign its requests."""
    document = sp_descriptor(entity_id=OTHER_SP, key=other_key, acs_url=OTHER_ACS, sign=False)
    document = document.replace(b'AuthnRequestsSigned="true"', b'AuthnRequestsSigned="false"')
    register_service_provider(db.session(), metadata=document, service=INKOMSTEN,
                              catalogue=runtime().context.catalogue())


# --- crafting -------------------------------------------------------------------------------


def authn_request(*, issuer: str = SP_ENTITY_ID, acs_url: str | None = SP_ACS,
                  index: int | None = 1, contexts: tuple[str, ...] = (),
                  comparison: str = "minimum", attrs: dict[str, str] | None = None,
                  drop: tuple[str, ...] = (), scoping: etree._Element | None = None) -> bytes:
    """An AuthnRequest as the SP would make it, with the given deviations."""
    _, document = build_authn_request(
        issuer=issuer, destination=SSO, acs_url=acs_url or SP_ACS, requested_contexts=contexts,
        comparison=comparison, attribute_consuming_service_index=index)
    root = parse(document)
    if acs_url is None:
        del root.attrib["AssertionConsumerServiceURL"]
    for name in drop:
        if name in root.attrib:
            del root.attrib[name]
    for name, value in (attrs or {}).items():
        root.set(name, value)
    if scoping is not None:
        root.append(scoping)
    return tostring(root)


def scoping(*provider_ids: str, proxy_count: int | None = None,
            requester: str | None = None) -> etree._Element:
    node = etree.Element(SAMLP + "Scoping", nsmap={"samlp": NS["samlp"]})
    if proxy_count is not None:
        node.set("ProxyCount", str(proxy_count))
    if provider_ids:
        entries = etree.SubElement(node, SAMLP + "IDPList")
        for provider_id in provider_ids:
            etree.SubElement(entries, SAMLP + "IDPEntry", {"ProviderID": provider_id})
    if requester:
        etree.SubElement(node, SAMLP + "RequesterID").text = requester
    return node


def redirect_get(client: Any, document: bytes, key: KeyPair | None,
                 relay_state: str | None = "rs") -> Any:
    return client.get(bindings.redirect_url(SSO, "SAMLRequest", document, relay_state, key))


def signed_post(document: bytes, key: KeyPair) -> bytes:
    return tostring(signing.sign(parse(document), key))


def post(client: Any, document: bytes, relay_state: str | None = "rs") -> Any:
    data = {"SAMLRequest": bindings.encode_post(document)}
    if relay_state is not None:
        data["RelayState"] = relay_state
    return client.post(SSO, data=data)


def _stored(prefix: str) -> int:
    return len(stored_state(current_app, prefix))


def _nothing_started() -> None:
    for connector in runtime().connectors.values():
        assert isinstance(connector, FakeConnector)
        assert connector.started == [], f"a flow was started at {connector.name}"
    assert _stored(FLOW_KEYS) == 0, "a flow was stored"


def assert_error_page(response: Any) -> None:
    """Refused before any address was validated: a page, no form, no redirect, nothing begun."""
    assert 400 <= response.status_code < 500, response.status_code
    assert "Location" not in response.headers
    body = response.get_data(as_text=True)
    assert posted_form(body) is None
    assert "SAMLResponse" not in body and "<form" not in body
    assert ATTACKER not in body
    _nothing_started()


def assert_error_response(response: Any, idp: SamlIdpFrontend, *codes: str,
                          acs: str = SP_ACS) -> etree._Element:
    """A signed error Response (no Assertion) to the SP's own ACS, and no flow begun."""
    form = posted_form(response.get_data(as_text=True))
    assert form is not None, response.get_data(as_text=True)[:400]
    assert form.url == acs
    root = signing.verify(parse(form.document), [idp.key.certificate])
    assert [c.get("Value") for c in root.iter(SAMLP + "StatusCode")] == [
        STATUS + code for code in codes]
    assert root.find(f".//{SAML}Assertion") is None
    _nothing_started()
    return root


def login(client: Any, connector: FakeConnector, document: bytes, key: KeyPair | None,
          identity: Any) -> Any:
    """Send the request, let ``connector`` authenticate ``identity``: the broker's last page."""
    connector.identity = identity
    return follow(client, redirect_get(client, document, key))


def assertion_of(response: Any, idp: SamlIdpFrontend) -> etree._Element:
    form = posted_form(response.get_data(as_text=True))
    assert form is not None, response.get_data(as_text=True)[:400]
    root = signing.verify(parse(form.document), [idp.key.certificate])
    assertion = root.find(SAML + "Assertion")
    assert assertion is not None
    return signing.verify(assertion, [idp.key.certificate])


# --- IDP-01: unsigned requests --------------------------------------------------------------


def _sha1_signed_redirect(document: bytes, key: KeyPair) -> str:
    """A genuinely valid RSA-SHA1 Redirect signature (the algorithm the SP must not use)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric import rsa

    deflated = zlib.compress(document)[2:-4]
    signed = (f"SAMLRequest={quote_plus(b64encode(deflated).decode())}&RelayState=rs"
              f"&SigAlg={quote_plus(SHA1)}")
    assert isinstance(key.private_key, rsa.RSAPrivateKey)
    signature = key.private_key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    return f"{SSO}?{signed}&Signature={quote_plus(b64encode(signature).decode())}"


@pytest.mark.parametrize("variant", [
    "redirect-unsigned", "redirect-sigalg-without-signature", "redirect-signature-without-sigalg",
    "redirect-empty-signature", "redirect-sha1", "redirect-xml-signature-instead-of-query",
    "post-unsigned", "post-signature-stripped", "post-signature-in-extensions"])
def test_idp_01_unsigned_request_from_sp_requiring_signatures_gets_error_page(
        client: Any, registered: None, sp_key: KeyPair, variant: str) -> None:
    document = authn_request()
    signed_url = bindings.redirect_url(SSO, "SAMLRequest", document, "rs", sp_key)
    unsigned_url = bindings.redirect_url(SSO, "SAMLRequest", document, "rs", None)
    signed_xml = signed_post(document, sp_key)
    if variant == "redirect-unsigned":
        response = client.get(unsigned_url)
    elif variant == "redirect-sigalg-without-signature":
        response = client.get(signed_url.split("&Signature=")[0])
    elif variant == "redirect-signature-without-sigalg":
        head, signature = signed_url.split("&Signature=")
        response = client.get(head.split("&SigAlg=")[0] + "&Signature=" + signature)
    elif variant == "redirect-empty-signature":
        response = client.get(signed_url.split("&Signature=")[0] + "&Signature=")
    elif variant == "redirect-sha1":
        response = client.get(_sha1_signed_redirect(document, sp_key))
    elif variant == "redirect-xml-signature-instead-of-query":
        response = client.get(bindings.redirect_url(SSO, "SAMLRequest", signed_xml, "rs", None))
    elif variant == "post-unsigned":
        response = post(client, document)
    elif variant == "post-signature-stripped":
        root = parse(signed_xml)
        root.remove(child(root, DS + "Signature"))
        response = post(client, tostring(root))
    else:
        root = parse(signed_xml)
        xml_signature = child(root, DS + "Signature")
        root.remove(xml_signature)
        extensions = etree.SubElement(root, SAMLP + "Extensions")
        extensions.append(xml_signature)
        root.insert(1, extensions)
        response = post(client, tostring(root))
    assert_error_page(response)
    assert _stored("saml-idp-request:") == 0


def test_idp_01_control_the_same_request_signed_is_accepted(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    """The refusals above are about the signature: signed, the same request starts a flow."""
    assert redirect_get(client, authn_request(), sp_key).status_code == 303
    assert post(client, signed_post(authn_request(), sp_key)).status_code == 303
    assert len(digid.started) == 2


# --- IDP-02: ACS URL injection --------------------------------------------------------------

ACS_VARIANTS = {
    "attacker-host": f"https://{ATTACKER}/acs",
    "host-suffix": f"https://sp.example.nl.{ATTACKER}/saml/acs",
    "userinfo": f"https://sp.example.nl@{ATTACKER}/saml/acs",
    "same-host-other-path": "https://sp.example.nl/saml/other",
    "http-instead-of-https": "http://sp.example.nl/saml/acs",
    "trailing-slash": SP_ACS + "/",
    "extra-query": SP_ACS + "?next=https://" + ATTACKER,
    "fragment": SP_ACS + "#x",
    "upper-case-host": "https://SP.example.nl/saml/acs",
    "explicit-port": "https://sp.example.nl:443/saml/acs",
    "dot-segments": "https://sp.example.nl/saml/x/../acs",
    "javascript": "javascript:alert(1)//",
    "other-sps-acs": OTHER_ACS,
    "empty": "",
}


@pytest.mark.parametrize("binding", ["redirect", "post"])
@pytest.mark.parametrize("acs", sorted(ACS_VARIANTS))
def test_idp_02_acs_url_not_in_metadata_gets_error_page_and_no_response(
        client: Any, other_sp: None, sp_key: KeyPair, acs: str, binding: str) -> None:
    """Signed by the SP itself (so only the ACS check stands in the way)."""
    document = authn_request(attrs={"AssertionConsumerServiceURL": ACS_VARIANTS[acs]})
    response = (redirect_get(client, document, sp_key) if binding == "redirect"
                else post(client, signed_post(document, sp_key)))
    assert_error_page(response)
    assert _stored("saml-idp-request:") == 0


def test_idp_02_later_errors_go_only_to_the_metadata_acs(
        client: Any, registered: None, sp_key: KeyPair, idp: SamlIdpFrontend) -> None:
    """An error found after the ACS check (unknown service index) is answered, but only to the
    ACS of the metadata; with a foreign ACS the same request gets a page."""
    assert_error_page(redirect_get(
        client, authn_request(index=9, attrs={"AssertionConsumerServiceURL":
                                              f"https://{ATTACKER}/acs"}), sp_key))
    assert_error_response(redirect_get(client, authn_request(index=9), sp_key), idp,
                          "Requester", "RequestUnsupported")


# --- IDP-03: ACS index and binding ----------------------------------------------------------


@pytest.fixture
def sp_with_artifact_acs(seeded: None, sp_key: KeyPair) -> None:
    """The test SP, with a second ACS (index 1) on the Artifact binding."""
    root = parse(sp_descriptor(entity_id=SP_ENTITY_ID, key=sp_key, acs_url=SP_ACS,
                               services=[(1, "Inkomstenbelasting", INKOMSTEN)], sign=False))
    role = root.find(MD + "SPSSODescriptor")
    assert role is not None
    acs = role.find(MD + "AssertionConsumerService")
    assert acs is not None
    artifact = etree.Element(MD + "AssertionConsumerService", {
        "Binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact",
        "Location": "https://sp.example.nl/saml/artifact", "index": "1"})
    acs.addnext(artifact)
    register_service_provider(db.session(), metadata=etree.tostring(root), service=INKOMSTEN,
                              catalogue=runtime().context.catalogue())


@pytest.mark.parametrize("attrs,drop", [
    ({"AssertionConsumerServiceIndex": "7"}, ("AssertionConsumerServiceURL",)),
    ({"AssertionConsumerServiceIndex": "-1"}, ("AssertionConsumerServiceURL",)),
    ({"AssertionConsumerServiceIndex": "x"}, ("AssertionConsumerServiceURL",)),
    ({"AssertionConsumerServiceIndex": "1"}, ("AssertionConsumerServiceURL",)),
    ({"AssertionConsumerServiceIndex": "0"}, ()),
    ({"ProtocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"}, ()),
    ({"ProtocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"}, ()),
    ({"ProtocolBinding": "urn:oasis:names:tc:SAML:2.0:bindings:PAOS"}, ()),
    ({"AssertionConsumerServiceURL": "https://sp.example.nl/saml/artifact"}, ()),
], ids=["index-out-of-range", "index-negative", "index-not-a-number", "index-of-artifact-acs",
        "index-and-url-both", "artifact-binding", "redirect-binding", "paos-binding",
        "url-of-artifact-acs"])
def test_idp_03_acs_index_or_binding_mismatch_gets_error_page(
        client: Any, sp_with_artifact_acs: None, sp_key: KeyPair,
        attrs: dict[str, str], drop: tuple[str, ...]) -> None:
    response = redirect_get(client, authn_request(attrs=attrs, drop=drop), sp_key)
    assert_error_page(response)


def test_idp_03_control_index_of_post_acs_is_accepted(
        client: Any, sp_with_artifact_acs: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    document = authn_request(attrs={"AssertionConsumerServiceIndex": "0"},
                             drop=("AssertionConsumerServiceURL",))
    assert redirect_get(client, document, sp_key).status_code == 303
    assert digid.started[-1].return_to == SP_ACS


# --- IDP-04: spoofed requester --------------------------------------------------------------


@pytest.mark.parametrize("case", [
    "redirect-issuer-a-signed-by-b", "post-issuer-a-signed-by-b",
    "redirect-issuer-b-signed-by-stranger", "post-issuer-b-signed-by-stranger",
    "redirect-unknown-issuer", "post-unknown-issuer", "empty-issuer",
    "issuer-with-trailing-space-variant", "issuer-case-variant"])
def test_idp_04_spoofed_or_unknown_requester_gets_error_page(
        client: Any, other_sp: None, sp_key: KeyPair, other_key: KeyPair, tmp_path: Path,
        case: str) -> None:
    """SP-A (signs) and SP-B (need not sign) are both registered. A request is verified with
    the key of the SP its Issuer names, and a signature that is present must verify even when
    that SP need not sign."""
    stranger = keys.load_or_create(tmp_path, "stranger")
    if case == "redirect-issuer-a-signed-by-b":
        response = redirect_get(client, authn_request(), other_key)
    elif case == "post-issuer-a-signed-by-b":
        response = post(client, signed_post(authn_request(), other_key))
    elif case == "redirect-issuer-b-signed-by-stranger":
        response = redirect_get(client, authn_request(issuer=OTHER_SP, acs_url=OTHER_ACS,
                                                      index=None), stranger)
    elif case == "post-issuer-b-signed-by-stranger":
        response = post(client, signed_post(authn_request(issuer=OTHER_SP, acs_url=OTHER_ACS,
                                                          index=None), stranger))
    elif case == "redirect-unknown-issuer":
        response = redirect_get(client, authn_request(issuer=f"https://{ATTACKER}/sp"), stranger)
    elif case == "post-unknown-issuer":
        response = post(client, signed_post(authn_request(issuer=f"https://{ATTACKER}/sp"),
                                            stranger))
    elif case == "empty-issuer":
        response = redirect_get(client, authn_request(issuer=""), sp_key)
    elif case == "issuer-with-trailing-space-variant":
        response = redirect_get(client, authn_request(issuer=SP_ENTITY_ID + "/"), sp_key)
    else:
        response = redirect_get(client, authn_request(issuer=SP_ENTITY_ID.upper()), sp_key)
    assert_error_page(response)


def test_idp_04_issuer_spoofing_another_sp_cannot_borrow_its_acs(
        client: Any, other_sp: None, sp_key: KeyPair) -> None:
    """SP-A, with a valid signature of its own, asks for SP-B's ACS: refused (the ACS must be
    the Issuer's own), so SP-A cannot make the broker post an assertion for SP-B elsewhere."""
    response = redirect_get(client, authn_request(acs_url=OTHER_ACS), sp_key)
    assert_error_page(response)


def test_idp_04_comment_injected_issuer_gets_error_page(
        client: Any, other_sp: None, sp_key: KeyPair) -> None:
    """``Issuer`` split by a comment (C14N-style) must not read as a (truncated) other SP."""
    document = authn_request().replace(
        f">{SP_ENTITY_ID}<".encode(),
        b">https://sp.example.nl<!---->/saml/metadata<")
    assert_error_page(redirect_get(client, document, sp_key))


# --- IDP-05: replay -------------------------------------------------------------------------


@pytest.mark.parametrize("second", ["same-browser", "other-browser", "post-binding"])
def test_idp_05_replayed_request_id_is_refused_and_starts_nothing(
        app: Flask, client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector,
        second: str) -> None:
    document = authn_request()
    first = redirect_get(client, document, sp_key)
    assert first.status_code == 303
    flows_before = _stored(FLOW_KEYS)
    if second == "same-browser":
        response = redirect_get(client, document, sp_key)
    elif second == "other-browser":
        response = redirect_get(app.test_client(), document, sp_key)
    else:
        response = post(app.test_client(), signed_post(document, sp_key))
    assert response.status_code == 400
    assert posted_form(response.get_data(as_text=True)) is None
    assert "Location" not in response.headers
    assert len(digid.started) == 1
    assert _stored(FLOW_KEYS) == flows_before == 1


# --- IDP-06: ForceAuthn, IsPassive ----------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "1"])
def test_idp_06_is_passive_gets_no_passive_and_no_login(
        client: Any, registered: None, sp_key: KeyPair, idp: SamlIdpFrontend,
        value: str) -> None:
    """The broker always needs the person to log in upstream (it keeps no session), so a
    passive request is answered at once with NoPassive: no flow, no login page."""
    document = authn_request(attrs={"IsPassive": value})
    response = redirect_get(client, document, sp_key)
    assert response.status_code == 200
    root = assert_error_response(response, idp, "Responder", "NoPassive")
    assert root.get("InResponseTo") == parse(document).get("ID")
    form = posted_form(response.get_data(as_text=True))
    assert form is not None and form.fields.get("RelayState") == "rs"
    assert "data-autosubmit" in response.get_data(as_text=True)


def test_idp_06_is_passive_false_is_an_ordinary_login(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    response = redirect_get(client, authn_request(attrs={"IsPassive": "false"}), sp_key)
    assert response.status_code == 303 and len(digid.started) == 1


@pytest.fixture
def demo_app(tmp_path: Path, key_cache: Path) -> Iterator[Flask]:
    """The demo configuration: the SAML IdP frontend in front of the real mock DigiD
    connector, so the AuthnRequest the broker sends upstream can be read."""
    import shutil

    instance = tmp_path / "demo-instance"
    shutil.copytree(key_cache, instance / "keys")
    app = create_app(load_settings(demo_config("http://localhost"), instance_path=instance,
                                   environ={}))
    app.config["TESTING"] = True
    with app.app_context():
        seed(db.session())
        key = runtime().context.key("test-sp")
        register_service_provider(
            db.session(), metadata=sp_descriptor(entity_id=SP_ENTITY_ID, key=key, acs_url=SP_ACS,
                                               services=[(1, "Inkomstenbelasting", INKOMSTEN)]),
            service=INKOMSTEN, catalogue=runtime().context.catalogue())
        yield app


def upstream_request(location: str) -> etree._Element:
    """The AuthnRequest the broker sent upstream, read from the redirect to the IdP."""
    document, _ = bindings.decode_redirect(urlsplit(location).query, "SAMLRequest", None)
    return parse(document)


@pytest.mark.parametrize("value", ["true", "1"])
def test_idp_06_force_authn_is_propagated_upstream(demo_app: Flask, value: str) -> None:
    client = demo_app.test_client()
    key = runtime().context.key("test-sp")
    response = redirect_get(client, authn_request(attrs={"ForceAuthn": value}), key)
    assert response.status_code == 303
    assert upstream_request(response.headers["Location"]).get("ForceAuthn") == "true"


@pytest.mark.parametrize("attrs", [{}, {"ForceAuthn": "false"}, {"ForceAuthn": "0"}],
                         ids=["absent", "false", "0"])
def test_idp_06_without_force_authn_none_goes_upstream(demo_app: Flask,
                                                       attrs: dict[str, str]) -> None:
    client = demo_app.test_client()
    key = runtime().context.key("test-sp")
    response = redirect_get(client, authn_request(attrs=attrs), key)
    assert response.status_code == 303
    assert upstream_request(response.headers["Location"]).get("ForceAuthn") is None


# --- IDP-07: level of assurance -------------------------------------------------------------


@pytest.mark.parametrize("comparison", ["minimum", "exact"])
def test_idp_07_requested_level_above_upstream_gets_no_authn_context_and_no_assertion(
        client: Any, registered: None, sp_key: KeyPair, idp: SamlIdpFrontend,
        digid: FakeConnector, comparison: str) -> None:
    document = authn_request(contexts=(LOA + "high",), comparison=comparison)
    response = login(client, digid, document, sp_key, citizen(loa="substantial"))
    assert digid.started[-1].min_loa == "high"
    digid.started.clear()
    assert_error_response(response, idp, "Responder", "NoAuthnContext")


@pytest.mark.parametrize("contexts,comparison,codes", [
    ((LOA + "substantial",), "better", ("Requester", "RequestUnsupported")),
    ((LOA + "high",), "maximum", ("Requester", "RequestUnsupported")),
    (("urn:example:super-high",), "minimum", ("Requester", "NoAuthnContext")),
    (("",), "minimum", ("Requester", "NoAuthnContext")),
], ids=["better", "maximum", "unknown-class", "empty-class"])
def test_idp_07_comparison_or_class_it_cannot_honour_gets_error_response(
        client: Any, registered: None, sp_key: KeyPair, idp: SamlIdpFrontend,
        contexts: tuple[str, ...], comparison: str, codes: tuple[str, ...]) -> None:
    response = redirect_get(client, authn_request(contexts=contexts, comparison=comparison),
                            sp_key)
    assert_error_response(response, idp, *codes)


@pytest.mark.parametrize("requested", ["low", "substantial"])
def test_idp_07_assertion_names_the_level_upstream_delivered_never_the_requested_one(
        client: Any, registered: None, sp_key: KeyPair, idp: SamlIdpFrontend,
        digid: FakeConnector, requested: str) -> None:
    """Asked for less than the service needs: the flow still needs the service's level, and
    the assertion states what upstream delivered."""
    document = authn_request(contexts=(LOA + requested,))
    assertion = assertion_of(login(client, digid, document, sp_key, citizen(loa="substantial")),
                             idp)
    assert digid.started[-1].min_loa == "substantial"
    classes = [n.text for n in assertion.iter(SAML + "AuthnContextClassRef")]
    assert classes == [LOA + "substantial"]


def test_idp_07_upstream_below_service_minimum_is_refused_even_if_sp_asks_low(
        client: Any, registered: None, sp_key: KeyPair, idp: SamlIdpFrontend,
        digid: FakeConnector) -> None:
    document = authn_request(contexts=(LOA + "low",))
    response = login(client, digid, document, sp_key, citizen(loa="low"))
    digid.started.clear()
    assert_error_response(response, idp, "Responder", "NoAuthnContext")


# --- IDP-08: the broker's own signatures ----------------------------------------------------


def _algorithms(element: etree._Element) -> set[str]:
    found = set()
    for signature in element.iter(DS + "Signature"):
        for node in signature.iter(DS + "SignatureMethod", DS + "DigestMethod",
                                   DS + "CanonicalizationMethod", DS + "Transform"):
            found.add(node.get("Algorithm", ""))
    return found


ALLOWED_ALGORITHMS = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
}


def test_idp_08_responses_error_responses_and_metadata_are_signed_with_sha256(
        client: Any, registered: None, sp_key: KeyPair, idp: SamlIdpFrontend,
        digid: FakeConnector) -> None:
    ok = posted_form(login(client, digid, authn_request(), sp_key, citizen())
                     .get_data(as_text=True))
    error = posted_form(redirect_get(client, authn_request(index=9), sp_key)
                        .get_data(as_text=True))
    assert ok is not None and error is not None
    metadata = client.get("/saml/idp/metadata").data
    for document, signatures in ((ok.document, 2), (error.document, 1), (metadata, 1)):
        root = parse(document)
        assert len(list(root.iter(DS + "Signature"))) == signatures
        assert _algorithms(root) <= ALLOWED_ALGORITHMS, _algorithms(root)
        assert b"sha1" not in document.lower()
        signing.verify(root, [idp.key.certificate])


# --- IDP-09: audience -----------------------------------------------------------------------


def test_idp_09_assertion_is_for_the_requesting_sp_only(
        app: Flask, other_sp: None, sp_key: KeyPair, idp: SamlIdpFrontend,
        digid: FakeConnector) -> None:
    answers = {}
    for issuer, acs, key in ((SP_ENTITY_ID, SP_ACS, sp_key), (OTHER_SP, OTHER_ACS, None)):
        document = authn_request(issuer=issuer, acs_url=acs, index=1 if key else None)
        response = login(app.test_client(), digid, document, key, citizen())
        form = posted_form(response.get_data(as_text=True))
        assert form is not None and form.url == acs
        answers[issuer] = (acs, assertion_of(response, idp))
    for issuer, (acs, assertion) in answers.items():
        assert [a.text for a in assertion.iter(SAML + "Audience")] == [issuer]
        assert len(list(assertion.iter(SAML + "AudienceRestriction"))) == 1
        [data] = assertion.iter(SAML + "SubjectConfirmationData")
        assert data.get("Recipient") == acs


# --- IDP-10: identifiers --------------------------------------------------------------------


def test_idp_10_name_id_is_transient_and_differs_per_sp_and_per_login(
        app: Flask, other_sp: None, sp_key: KeyPair, idp: SamlIdpFrontend,
        digid: FakeConnector) -> None:
    seen = []
    for issuer, acs, key in ((SP_ENTITY_ID, SP_ACS, sp_key), (SP_ENTITY_ID, SP_ACS, sp_key),
                             (OTHER_SP, OTHER_ACS, None)):
        document = authn_request(issuer=issuer, acs_url=acs, index=1 if key else None)
        assertion = assertion_of(login(app.test_client(), digid, document, key, citizen()), idp)
        name_id = assertion.find(f"{SAML}Subject/{SAML}NameID")
        assert name_id is not None
        assert name_id.get("Format") == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
        assert name_id.text and citizen().acting.id not in name_id.text
        seen.append(name_id.text)
    assert len(set(seen)) == 3


# --- IDP-11: XSW on a signed AuthnRequest ---------------------------------------------------


def _evil(request: etree._Element, *, keep_id: bool = False) -> etree._Element:
    """The request, asking for service index 2 (Omzetbelasting, eHerkenning) instead of 1."""
    evil = copy.deepcopy(request)
    for signature in evil.findall(DS + "Signature"):
        evil.remove(signature)
    if not keep_id:
        evil.set("ID", new_id())
    evil.set("AttributeConsumingServiceIndex", "2")
    return evil


def _unsigned(element: etree._Element) -> etree._Element:
    pristine = copy.deepcopy(element)
    for signature in pristine.findall(DS + "Signature"):
        pristine.remove(signature)
    return pristine


def xsw_request(signed: bytes, case: str) -> bytes:
    original = parse(signed)
    signature = original.find(DS + "Signature")
    assert signature is not None
    if case == "xsw1-pristine-in-signature":
        evil = _evil(original)
        moved = copy.deepcopy(signature)
        moved.append(_unsigned(original))
        evil.insert(1, moved)
    elif case == "xsw2-pristine-sibling":
        evil = _evil(original)
        evil.insert(1, copy.deepcopy(signature))
        evil.insert(1, _unsigned(original))
    elif case == "same-id-changed":
        evil = _evil(original, keep_id=True)
        evil.insert(1, copy.deepcopy(signature))
    elif case == "signed-request-in-extensions":
        evil = _evil(original)
        extensions = etree.Element(SAMLP + "Extensions")
        extensions.append(copy.deepcopy(original))
        evil.insert(1, extensions)
    elif case == "signature-in-object":
        evil = _evil(original)
        moved = copy.deepcopy(signature)
        obj = etree.SubElement(moved, DS + "Object")
        obj.append(_unsigned(original))
        evil.insert(1, moved)
    elif case == "signed-request-as-second-root":
        return tostring(_evil(original)) + signed
    else:
        raise AssertionError(case)
    return tostring(evil)


@pytest.mark.parametrize("case", [
    "xsw1-pristine-in-signature", "xsw2-pristine-sibling", "same-id-changed",
    "signed-request-in-extensions", "signature-in-object", "signed-request-as-second-root"])
def test_idp_11_signature_wrapping_on_signed_post_request_gets_error_page(
        client: Any, registered: None, sp_key: KeyPair, case: str) -> None:
    attacked = xsw_request(signed_post(authn_request(), sp_key), case)
    assert_error_page(post(client, attacked))


def test_idp_11_signed_redirect_with_second_smuggled_request_is_refused(
        client: Any, registered: None, sp_key: KeyPair) -> None:
    url = bindings.redirect_url(SSO, "SAMLRequest", authn_request(), "rs", sp_key)
    smuggled = bindings.redirect_url(SSO, "SAMLRequest", authn_request(index=2), None, None)
    evil_value = smuggled.split("SAMLRequest=", 1)[1]
    assert_error_page(client.get(f"{url}&SAMLRequest={evil_value}"))
    # the same parameter under an encoded name is not SAMLRequest: only the signed one is read
    response = client.get(f"{url}&SAML%52equest={evil_value}")
    assert response.status_code == 303
    [flow] = runtime().connectors["digid"].started  # type: ignore[attr-defined]
    assert flow.service == INKOMSTEN and runtime().connectors["eh"].started == []  # type: ignore[attr-defined]


# --- IDP-12: DEFLATE bomb, oversized requests -----------------------------------------------


def test_idp_12_deflate_bomb_on_redirect_is_refused_quickly(
        client: Any, registered: None, sp_key: KeyPair) -> None:
    bomb = zlib.compress(authn_request()[:-2] + b" " * (64 * 1024 * 1024))[2:-4]
    assert len(bomb) < 100_000
    url = f"{SSO}?SAMLRequest={quote_plus(b64encode(bomb).decode())}&RelayState=rs"
    started = time.perf_counter()
    response = client.get(url)
    assert time.perf_counter() - started < 5
    assert_error_page(response)


@pytest.mark.parametrize("case", ["post-oversized", "post-deeply-nested", "redirect-deep"])
def test_idp_12_oversized_or_deeply_nested_request_is_refused(
        client: Any, registered: None, sp_key: KeyPair, case: str) -> None:
    nested = b"<e>" * 5000 + b"</e>" * 5000
    document = authn_request().replace(b"</samlp:AuthnRequest>",
                                       b"<samlp:Extensions>" + nested
                                       + b"</samlp:Extensions></samlp:AuthnRequest>")
    if case == "post-oversized":
        response = client.post(SSO, data={"SAMLRequest": "A" * (2 * 1024 * 1024)})
    elif case == "post-deeply-nested":
        response = post(client, document)
    else:
        response = redirect_get(client, document, sp_key)
    assert_error_page(response)


# --- IDP-13: upstream steering --------------------------------------------------------------


@pytest.mark.parametrize("entries", [
    (f"https://{ATTACKER}/idp",), ("eh",), ("https://unknown.example.nl/idp", "eh"),
    ("javascript:alert(1)",)], ids=["attacker-url", "connector-of-other-kind",
                                    "unknown-then-other-kind", "script"])
def test_idp_13_idp_list_cannot_steer_to_an_unlisted_or_ineligible_upstream(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector, eh: FakeConnector,
        entries: tuple[str, ...]) -> None:
    document = authn_request(scoping=scoping(*entries, requester=f"https://{ATTACKER}/sp"))
    response = redirect_get(client, document, sp_key)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/connect/digid/done")
    assert ATTACKER not in response.headers["Location"]
    assert eh.started == [] and len(digid.started) == 1
    assert digid.started[0].upstream_hint in (None, "eh")
    assert digid.started[0].min_loa == "substantial"


def test_idp_13_steering_to_a_connector_does_not_lower_the_level(
        client: Any, registered: None, sp_key: KeyPair, idp: SamlIdpFrontend,
        digid: FakeConnector) -> None:
    """IDPList may pick among the eligible upstreams only; the level check stays."""
    document = authn_request(scoping=scoping(UPSTREAM_DIGID, proxy_count=0))
    response = login(client, digid, document, sp_key, citizen(loa="low"))
    assert digid.started[-1].upstream_hint == "digid"
    digid.started.clear()
    assert_error_response(response, idp, "Responder", "NoAuthnContext")


# --- sanity: the helpers' idea of "nothing started" ----------------------------------------


def test_control_a_valid_request_starts_exactly_one_flow(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    response = redirect_get(client, authn_request(), sp_key)
    assert response.status_code == 303
    assert len(digid.started) == 1 and _stored(FLOW_KEYS) == 1
