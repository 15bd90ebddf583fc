"""Answers: signed Responses a real pysaml2 SP accepts, with the right attributes, and signed
error Responses with the error's status."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from saml2 import BINDING_HTTP_POST
from saml2 import BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.response import StatusNoAuthnContext

from broker.errors import InsufficientLoaError
from broker.frontends.saml_idp import SamlIdpFrontend
from broker.identity import Identity
from broker.identity import Link
from broker.identity import Party
from broker.saml import bindings
from broker.saml import signing
from broker.saml.xml import NS
from broker.saml.xml import parse
from broker.web.runtime import runtime
from tests.fakes import FakeConnector
from tests.frontends.saml_idp.conftest import JAN
from tests.frontends.saml_idp.conftest import SP_ACS
from tests.frontends.saml_idp.conftest import UPSTREAM_DIGID
from tests.frontends.saml_idp.conftest import Posted
from tests.frontends.saml_idp.conftest import citizen
from tests.frontends.saml_idp.conftest import follow
from tests.frontends.saml_idp.conftest import posted_form

SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def _login(client: Any, sp_client: Saml2Client, idp: SamlIdpFrontend, digid: FakeConnector,
           identity: Identity, index: str = "1") -> tuple[str, Posted]:
    request_id, info = sp_client.prepare_for_authenticate(
        entityid=idp.entity_id, relay_state="state-1", binding=BINDING_HTTP_REDIRECT,
        sign=True, sigalg=SHA256, attribute_consuming_service_index=index)
    digid.identity = identity
    page = follow(client, client.get(dict(info["headers"])["Location"]))
    form = posted_form(page.get_data(as_text=True))
    assert form is not None, page.get_data(as_text=True)[:500]
    return str(request_id), form


def _values(response: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for statement in response.assertion.attribute_statement:
        for attribute in statement.attribute:
            for value in attribute.attribute_value:
                name_ids = [e for e in value.extension_elements or () if e.tag == "NameID"]
                text = (f"{name_ids[0].attributes['NameQualifier']}|{name_ids[0].text}"
                        if name_ids else value.text)
                found.setdefault(attribute.name, []).append(text)
    return found


def test_response_for_self_is_accepted_by_pysaml2_with_st_saml_attributes(
        client: Any, sp_client: Saml2Client, idp: SamlIdpFrontend,
        digid: FakeConnector) -> None:
    request_id, form = _login(client, sp_client, idp, digid, citizen())
    assert form.url == SP_ACS and form.fields["RelayState"] == "state-1"
    response = sp_client.parse_authn_request_response(
        form.fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"})
    assert response is not None and response.in_response_to == request_id
    assert _values(response) == {
        "urn:nl-eid-gdi:1.0:ServiceUUID": ["92a383fd-f732-5aaf-af23-d9acf46c4c3a"],
        "urn:nl-eid-gdi:1.0:ActingSubjectID": [f"urn:nl-eid-gdi:1.0:id:legacy-BSN|{JAN}"],
    }
    ((context, authorities, _),) = response.authn_info()
    assert context == "http://eidas.europa.eu/LoA/substantial"
    assert authorities == [UPSTREAM_DIGID]
    assert response.name_id.format == "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    assert JAN not in response.name_id.text


def test_response_for_bewind_link_names_legal_subject_and_representation_type(
        client: Any, sp_client: Saml2Client, idp: SamlIdpFrontend,
        digid: FakeConnector) -> None:
    identity = citizen("999991772").acting_for(Link(
        party=Party(id="999992570", id_type="bsn"), mandate_id="m-1", kind="legal",
        role="bewind"))
    request_id, form = _login(client, sp_client, idp, digid, identity)
    response = sp_client.parse_authn_request_response(
        form.fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"})
    values = _values(response)
    assert values["urn:nl-eid-gdi:1.0:ActingSubjectID"] == [
        "urn:nl-eid-gdi:1.0:id:legacy-BSN|999991772"]
    assert values["urn:nl-eid-gdi:1.0:LegalSubjectID"] == [
        "urn:nl-eid-gdi:1.0:id:legacy-BSN|999992570"]
    assert values["urn:nl-eid-gdi:1.1:RepresentationType"] == [
        "urn:mandate-broker:rt:bewindvoering"]


def test_response_is_signed_twice_with_the_idp_key(
        client: Any, sp_client: Saml2Client, idp: SamlIdpFrontend,
        digid: FakeConnector) -> None:
    _, form = _login(client, sp_client, idp, digid, citizen())
    root = signing.verify(parse(form.document), [idp.key.certificate])
    assertion = root.find(f"{{{NS['saml']}}}Assertion")
    assert assertion is not None
    signing.verify(assertion, [idp.key.certificate])
    audience = root.find(f".//{{{NS['saml']}}}Audience")
    assert audience is not None and audience.text == sp_client.config.entityid


def test_too_low_level_gets_no_authn_context_error_response(
        client: Any, sp_client: Saml2Client, idp: SamlIdpFrontend,
        digid: FakeConnector) -> None:
    request_id, form = _login(client, sp_client, idp, digid, citizen(loa="low"))
    with pytest.raises(StatusNoAuthnContext):
        sp_client.parse_authn_request_response(
            form.fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"})


def test_respond_error_produces_signed_error_response_with_status(
        app: Flask, client: Any, sp_client: Saml2Client, idp: SamlIdpFrontend,
        digid: FakeConnector) -> None:
    _, info = sp_client.prepare_for_authenticate(
        entityid=idp.entity_id, binding=BINDING_HTTP_REDIRECT, sign=True, sigalg=SHA256)
    client.get(dict(info["headers"])["Location"])
    flow = digid.started[-1]
    continuation = idp.respond_error(InsufficientLoaError("too low"), flow)
    assert continuation.method == "POST" and continuation.url == SP_ACS
    assert "RelayState" not in continuation.fields
    root = signing.verify(parse(bindings.decode_post(continuation.fields["SAMLResponse"])),
                          [idp.key.certificate])
    assert root.get("InResponseTo") == flow.request["request_id"]
    assert root.get("Destination") == SP_ACS
    codes = [c.get("Value") for c in root.iter(f"{{{NS['samlp']}}}StatusCode")]
    assert codes == ["urn:oasis:names:tc:SAML:2.0:status:Responder",
                     "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"]
    message = root.find(f".//{{{NS['samlp']}}}StatusMessage")
    assert message is not None and message.text == InsufficientLoaError.public_message.en
    assert root.find(f".//{{{NS['saml']}}}Assertion") is None


def test_response_for_chain_mandate_uses_etd_names_and_class(
        client: Any, sp_client: Saml2Client, idp: SamlIdpFrontend) -> None:
    eh = runtime().connectors["eh"]
    assert isinstance(eh, FakeConnector)
    eh.direct = True
    identity = Identity(
        acting=Party(id="c" * 64 + "@" + "d" * 32, id_type="pseudonym"),
        organisation=Party(id="20000002", id_type="kvk"), loa="substantial", connector="eh",
        authn_instant=citizen().authn_instant,
        represents=(Link(party=Party(id="10000001", id_type="kvk"), mandate_id="m-5",
                         kind="chain"),))
    request_id, form = _login(client, sp_client, idp, eh, identity, index="2")
    response = sp_client.parse_authn_request_response(
        form.fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"})
    values = _values(response)
    assert values["urn:etoegang:core:LegalSubjectID"] == [
        "urn:etoegang:1.9:EntityConcernedID:KvKnr|10000001"]
    assert values["urn:etoegang:1.9:IntermediateEntityID:KvKnr"] == ["20000002"]
    assert values["urn:etoegang:core:ServiceUUID"] == ["ccc77903-dc20-519b-bf8a-35c0b74d02e2"]
    assert not any(name.startswith("urn:nl-eid-gdi") for name in values)
    assert response.authn_info()[0][0] == "urn:etoegang:core:assurance-class:loa3"
