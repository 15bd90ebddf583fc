"""The SSO endpoint: who may ask, how the request must be signed, where the answer may go."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

from flask import Flask
from lxml import etree
from saml2.client import Saml2Client

from broker import keys
from broker.frontends.saml_idp import SamlIdpFrontend
from broker.frontends.saml_idp.providers import register_service_provider
from broker.keys import KeyPair
from broker.saml import bindings
from broker.saml import signing
from broker.saml.messages import build_authn_request
from broker.saml.xml import NS
from broker.saml.xml import SAMLP
from broker.saml.xml import parse
from broker.saml.xml import tostring
from broker.web.database import db
from broker.web.runtime import runtime
from tests.fakes import FakeConnector
from tests.frontends.saml_idp.conftest import INKOMSTEN
from tests.frontends.saml_idp.conftest import SP_ACS
from tests.frontends.saml_idp.conftest import SP_ENTITY_ID
from tests.frontends.saml_idp.conftest import UPSTREAM_DIGID
from tests.frontends.saml_idp.conftest import posted_form

SSO = "http://localhost/saml/idp/sso"


def _request(*, issuer: str = SP_ENTITY_ID, acs_url: str = SP_ACS, destination: str = SSO,
             index: int | None = 1, contexts: tuple[str, ...] = (),
             comparison: str = "minimum", idp_list: tuple[str, ...] = ()) -> bytes:
    _, document = build_authn_request(
        issuer=issuer, destination=destination, acs_url=acs_url, requested_contexts=contexts,
        comparison=comparison, attribute_consuming_service_index=index)
    if not idp_list:
        return document
    root = parse(document)
    scoping = etree.SubElement(root, SAMLP + "Scoping")
    entries = etree.SubElement(scoping, SAMLP + "IDPList")
    for provider_id in idp_list:
        etree.SubElement(entries, SAMLP + "IDPEntry", {"ProviderID": provider_id})
    return tostring(root)


def _redirect(client: Any, document: bytes, key: KeyPair | None, relay_state: str = "rs") -> Any:
    url = bindings.redirect_url(SSO, "SAMLRequest", document, relay_state, key)
    return client.get(url)


def _refused_without_response(response: Any, digid: FakeConnector) -> None:
    assert response.status_code == 400
    assert posted_form(response.get_data(as_text=True)) is None
    assert "SAMLResponse" not in response.get_data(as_text=True)
    assert digid.started == []


def test_signed_redirect_request_starts_flow_with_validated_acs(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    response = _redirect(client, _request(), sp_key)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/connect/digid/done")
    (flow,) = digid.started
    assert flow.return_to == SP_ACS
    assert flow.service == INKOMSTEN
    assert flow.requester == SP_ENTITY_ID
    assert flow.request["relay_state"] == "rs"
    assert flow.request["acs_url"] == SP_ACS


def test_pysaml2_client_request_is_accepted(
        client: Any, sp_client: Saml2Client, idp: SamlIdpFrontend, digid: FakeConnector) -> None:
    request_id, info = sp_client.prepare_for_authenticate(
        entityid=idp.entity_id, relay_state="state-1",
        sigalg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", sign=True,
        binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        attribute_consuming_service_index="1")
    response = client.get(dict(info["headers"])["Location"])
    assert response.status_code == 303
    assert digid.started[-1].request["request_id"] == request_id


def test_unknown_sp_gets_page_and_no_response(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    response = _redirect(client, _request(issuer="https://stranger.example.nl"), sp_key)
    _refused_without_response(response, digid)
    assert "niet bekend" in response.get_data(as_text=True)


def test_acs_url_not_in_metadata_gets_page_and_no_response(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    response = _redirect(client, _request(acs_url="https://evil.example.nl/acs"), sp_key)
    _refused_without_response(response, digid)


def test_unsigned_request_from_sp_promising_signed_requests_is_refused(
        client: Any, registered: None, digid: FakeConnector) -> None:
    _refused_without_response(_redirect(client, _request(), None), digid)


def test_tampered_redirect_signature_is_refused(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    url = bindings.redirect_url(SSO, "SAMLRequest", _request(), "rs", sp_key)
    tampered = url.replace("RelayState=rs", "RelayState=" + quote_plus("other"))
    _refused_without_response(client.get(tampered), digid)


def test_redirect_signed_by_other_key_is_refused(
        client: Any, registered: None, digid: FakeConnector, tmp_path: Any) -> None:
    stranger = keys.load_or_create(tmp_path, "stranger")
    _refused_without_response(_redirect(client, _request(), stranger), digid)


def test_unsigned_post_request_from_sp_promising_signed_requests_is_refused(
        client: Any, registered: None, digid: FakeConnector) -> None:
    response = client.post(SSO, data={"SAMLRequest": bindings.encode_post(_request())})
    _refused_without_response(response, digid)


def test_signed_post_request_is_accepted(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    signed = tostring(signing.sign(parse(_request()), sp_key))
    response = client.post(SSO, data={"SAMLRequest": bindings.encode_post(signed),
                                      "RelayState": "r2"})
    assert response.status_code == 303
    assert digid.started[-1].request["relay_state"] == "r2"


def test_tampered_post_request_is_refused(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    signed = tostring(signing.sign(parse(_request()), sp_key))
    tampered = signed.replace(SP_ACS.encode(), b"https://sp.example.nl/saml/acs2")
    response = client.post(SSO, data={"SAMLRequest": bindings.encode_post(tampered)})
    _refused_without_response(response, digid)


def test_wrong_destination_is_refused(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    response = _redirect(client, _request(destination="https://other.example.nl/sso"), sp_key)
    _refused_without_response(response, digid)


def test_replayed_request_is_refused(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    url = bindings.redirect_url(SSO, "SAMLRequest", _request(), "rs", sp_key)
    assert client.get(url).status_code == 303
    second = client.get(url)
    assert second.status_code == 400
    assert len(digid.started) == 1


def test_unregistered_consuming_service_index_gets_request_unsupported_response(
        client: Any, registered: None, sp_key: KeyPair, idp: SamlIdpFrontend,
        digid: FakeConnector) -> None:
    response = _redirect(client, _request(index=9), sp_key)
    form = posted_form(response.get_data(as_text=True))
    assert form is not None and form.url == SP_ACS
    assert form.fields["RelayState"] == "rs"
    root = signing.verify(parse(form.document), [idp.key.certificate])
    codes = root.findall(f".//{{{NS['samlp']}}}StatusCode")
    assert [c.get("Value") for c in codes] == [
        "urn:oasis:names:tc:SAML:2.0:status:Requester",
        "urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported"]
    assert root.find(f".//{{{NS['saml']}}}Assertion") is None
    assert digid.started == []


def test_requested_authn_context_high_raises_minimum_level(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    document = _request(contexts=("http://eidas.europa.eu/LoA/high",))
    assert _redirect(client, document, sp_key).status_code == 303
    assert digid.started[-1].min_loa == "high"


def test_requested_authn_context_low_keeps_service_minimum(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    document = _request(contexts=("http://eidas.europa.eu/LoA/low",))
    assert _redirect(client, document, sp_key).status_code == 303
    assert digid.started[-1].min_loa == "substantial"


def test_requested_authn_context_unknown_gets_no_authn_context_response(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    document = _request(contexts=("urn:example:unknown",))
    form = posted_form(_redirect(client, document, sp_key).get_data(as_text=True))
    assert form is not None
    assert b"urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext" in form.document
    assert digid.started == []


def test_scoping_idp_entry_names_connector_by_upstream_entity_id(
        client: Any, registered: None, sp_key: KeyPair, digid: FakeConnector) -> None:
    document = _request(idp_list=(UPSTREAM_DIGID,))
    assert _redirect(client, document, sp_key).status_code == 303
    assert digid.started[-1].upstream_hint == "digid"


def test_sp_without_signed_requests_may_send_unsigned_redirect(
        client: Any, seeded: None, app: Flask, digid: FakeConnector) -> None:
    key = runtime().context.key("test-sp")
    document = etree.tostring(parse(_unsigned_sp_metadata(key)))
    register_service_provider(db.session(), metadata=document, service=INKOMSTEN,
                              catalogue=runtime().context.catalogue())
    response = _redirect(client, _request(index=None), None)
    assert response.status_code == 303
    assert digid.started[-1].service == INKOMSTEN


def _unsigned_sp_metadata(key: KeyPair) -> bytes:
    from broker.saml.metadata import sp_descriptor

    document = sp_descriptor(entity_id=SP_ENTITY_ID, key=key, acs_url=SP_ACS, sign=False)
    return document.replace(b'AuthnRequestsSigned="true"', b'AuthnRequestsSigned="false"')
