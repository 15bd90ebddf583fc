"""The signxml backend lets a real pysaml2 SP accept signed Responses without xmlsec1."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from saml2 import BINDING_HTTP_POST
from saml2 import BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.sigver import SignatureError

from broker import keys
from broker.keys import KeyPair
from broker.saml import bindings
from broker.saml import messages
from broker.saml import metadata
from broker.saml.pysaml2_backend import make_saml2_client

IDP = "https://idp.example.nl/metadata"
SP = "https://sp.example.nl/metadata"
ACS = "https://sp.example.nl/acs"
SSO = "https://idp.example.nl/sso"


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backend-keys")


@pytest.fixture(scope="module")
def idp_key(key_dir: Path) -> KeyPair:
    return keys.load_or_create(key_dir, "idp")


@pytest.fixture(scope="module")
def sp_key(key_dir: Path) -> KeyPair:
    return keys.load_or_create(key_dir, "sp")


@pytest.fixture
def client(key_dir: Path, idp_key: KeyPair, sp_key: KeyPair) -> Saml2Client:
    idp_metadata = metadata.idp_descriptor(entity_id=IDP, key=idp_key, sso_url=SSO)
    return make_saml2_client({
        "entityid": SP,
        "key_file": str(key_dir / "sp.key"), "cert_file": str(key_dir / "sp.crt"),
        "metadata": {"inline": [idp_metadata.decode()]},
        "allow_unknown_attributes": True,
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(ACS, BINDING_HTTP_POST)]},
            "want_response_signed": True, "want_assertions_signed": True,
            "authn_requests_signed": True, "allow_unsolicited": False}},
    })


def _request_id(client: Saml2Client) -> str:
    request_id, _ = client.prepare_for_authenticate(
        entityid=IDP, binding=BINDING_HTTP_REDIRECT, sign=True,
        sigalg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    return str(request_id)


def _response(request_id: str, key: KeyPair, bsn: str = "999993653") -> bytes:
    content = messages.AssertionContent(
        name_id=messages.new_id(), authn_context="http://eidas.europa.eu/LoA/substantial",
        authn_instant=datetime.now(UTC),
        attributes=(("urn:nl-eid-gdi:1.0:ServiceUUID", ("92a383fd-f732-5aaf-af23-d9acf46c4c3a",)),
                    ("urn:nl-eid-gdi:1.0:ActingSubjectID", (messages.NameIdValue(
                        bsn, "urn:nl-eid-gdi:1.0:id:legacy-BSN"),))))
    return messages.build_response(issuer=IDP, destination=ACS, in_response_to=request_id,
                                   audience=SP, content=content, key=key)


def test_redirect_request_signed_by_client_verifies_with_sp_certificate(
        client: Saml2Client, sp_key: KeyPair) -> None:
    _, info = client.prepare_for_authenticate(
        entityid=IDP, binding=BINDING_HTTP_REDIRECT, sign=True,
        sigalg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    location = dict(info["headers"])["Location"]
    document, _ = bindings.decode_redirect(location.split("?", 1)[1], "SAMLRequest",
                                           [sp_key.certificate])
    assert b"AuthnRequest" in document and SP.encode() in document


def test_signed_response_from_build_response_is_accepted(
        client: Saml2Client, idp_key: KeyPair) -> None:
    request_id = _request_id(client)
    response = client.parse_authn_request_response(
        bindings.encode_post(_response(request_id, idp_key)), BINDING_HTTP_POST,
        outstanding={request_id: "/"})
    assert response is not None
    assert response.in_response_to == request_id
    assert response.ava["urn:nl-eid-gdi:1.0:ServiceUUID"] == [
        "92a383fd-f732-5aaf-af23-d9acf46c4c3a"]
    assert response.authn_info()[0][0] == "http://eidas.europa.eu/LoA/substantial"


def test_tampered_response_is_refused(client: Saml2Client, idp_key: KeyPair) -> None:
    request_id = _request_id(client)
    tampered = _response(request_id, idp_key).replace(b"999993653", b"999990676")
    with pytest.raises(SignatureError):
        client.parse_authn_request_response(bindings.encode_post(tampered), BINDING_HTTP_POST,
                                            outstanding={request_id: "/"})


def test_response_signed_by_unknown_key_is_refused(client: Saml2Client, key_dir: Path) -> None:
    request_id = _request_id(client)
    stranger = keys.load_or_create(key_dir, "stranger")
    with pytest.raises(SignatureError):
        client.parse_authn_request_response(
            bindings.encode_post(_response(request_id, stranger)), BINDING_HTTP_POST,
            outstanding={request_id: "/"})


def test_response_with_unsigned_assertion_is_refused(
        client: Saml2Client, idp_key: KeyPair) -> None:
    from lxml import etree

    from broker.saml import signing
    from broker.saml.xml import DS
    from broker.saml.xml import SAML
    from broker.saml.xml import parse

    request_id = _request_id(client)
    root = parse(_response(request_id, idp_key))
    for signature in root.findall(DS + "Signature"):
        root.remove(signature)
    assertion = root.find(SAML + "Assertion")
    assert assertion is not None
    for signature in assertion.findall(DS + "Signature"):
        assertion.remove(signature)
    resigned = etree.tostring(signing.sign(root, idp_key))
    with pytest.raises(SignatureError):
        client.parse_authn_request_response(bindings.encode_post(resigned), BINDING_HTTP_POST,
                                            outstanding={request_id: "/"})
