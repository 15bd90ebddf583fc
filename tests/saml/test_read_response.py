"""broker.saml.messages.read_response: every rule of the Web Browser SSO profile, one test each.

Mutations are re-signed with the IdP's key where the point is a rule other than the signature,
so each test proves that rule on its own.
"""

from collections.abc import Callable
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from cryptography import x509
from lxml import etree

from broker import keys
from broker.saml import signing
from broker.saml.messages import AssertionContent
from broker.saml.messages import MessageError
from broker.saml.messages import NameIdValue
from broker.saml.messages import StatusError
from broker.saml.messages import VerifiedAssertion
from broker.saml.messages import build_error_response
from broker.saml.messages import build_response
from broker.saml.messages import read_response
from broker.saml.xml import DS
from broker.saml.xml import SAML
from broker.saml.xml import SAMLP
from broker.saml.xml import parse
from tests.xml_support import child

IDP = "urn:nl-eid-gdi:1.0:AD:00000099000000000001:entities:9000"
ACS = "http://broker.test/connect/digid/acs"
SP = "http://broker.test/connect/digid/metadata"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
IDP_KEY = keys.generate("idp")
OTHER_KEY = keys.generate("other")
CONTENT = AssertionContent(
    name_id="_session", authn_context="http://eidas.europa.eu/LoA/substantial",
    authn_instant=NOW, session_index="_session",
    attributes=(("urn:nl-eid-gdi:1.0:ActingSubjectID",
                 (NameIdValue("999993653", "urn:nl-eid-gdi:1.0:id:legacy-BSN"),)),))


def _response(**changes: object) -> bytes:
    values: dict[str, object] = {"issuer": IDP, "destination": ACS, "in_response_to": "_req",
                                 "audience": SP, "content": CONTENT, "key": IDP_KEY, "now": NOW}
    values.update(changes)
    return build_response(**values)  # type: ignore[arg-type]


def _read(document: bytes, now: datetime = NOW,
          certificates: Sequence[x509.Certificate] | None = None) -> VerifiedAssertion:
    return read_response(document, idp_entity_id=IDP,
                         certificates=certificates or [IDP_KEY.certificate], acs_url=ACS,
                         audience=SP, in_response_to="_req", now=now, skew=60)


def _resigned(document: bytes, mutate: Callable[[etree._Element], None]) -> bytes:
    """Apply ``mutate`` to the assertion, then sign assertion and response again."""
    root = parse(document)
    assertion = root.find(SAML + "Assertion")
    assert assertion is not None
    for element in (root, assertion):
        element.remove(child(element, DS + "Signature"))
    mutate(assertion)
    root.replace(assertion, signing.sign(assertion, IDP_KEY))
    return etree.tostring(signing.sign(root, IDP_KEY))


def test_valid_response_yields_the_signed_values() -> None:
    result = _read(_response())
    assert result.attributes["urn:nl-eid-gdi:1.0:ActingSubjectID"] == (
        "urn:nl-eid-gdi:1.0:id:legacy-BSN|999993653",)
    assert result.authn_context == "http://eidas.europa.eu/LoA/substantial"
    assert result.issuer == IDP


def test_unsigned_response_is_refused() -> None:
    root = parse(_response())
    root.remove(child(root, DS + "Signature"))
    with pytest.raises(MessageError, match="not signed"):
        _read(etree.tostring(root))


def test_tampered_response_is_refused() -> None:
    tampered = _response().replace(b"999993653", b"999990676")
    with pytest.raises(MessageError, match="Response"):
        _read(tampered)


def test_response_signed_by_a_key_not_in_metadata_is_refused() -> None:
    with pytest.raises(MessageError, match="trusted key"):
        _read(_response(key=OTHER_KEY))


def test_unsigned_assertion_inside_a_signed_response_is_refused() -> None:
    root = parse(_response())
    root.remove(child(root, DS + "Signature"))
    assertion = child(root, SAML + "Assertion")
    assertion.remove(child(assertion, DS + "Signature"))
    document = etree.tostring(signing.sign(root, IDP_KEY))
    with pytest.raises(MessageError, match="Assertion is not signed"):
        _read(document)


def test_wrong_audience_is_refused() -> None:
    def mutate(assertion: etree._Element) -> None:
        assertion.find(f".//{SAML}Audience").text = "https://someone-else"
    with pytest.raises(MessageError, match="Audience"):
        _read(_resigned(_response(), mutate))


def test_missing_audience_restriction_is_refused() -> None:
    def mutate(assertion: etree._Element) -> None:
        conditions = child(assertion, SAML + "Conditions")
        conditions.remove(child(conditions, SAML + "AudienceRestriction"))
    with pytest.raises(MessageError, match="AudienceRestriction"):
        _read(_resigned(_response(), mutate))


def test_wrong_recipient_is_refused() -> None:
    def mutate(assertion: etree._Element) -> None:
        assertion.find(f".//{SAML}SubjectConfirmationData").set("Recipient", "https://evil/acs")
    with pytest.raises(MessageError, match="Recipient"):
        _read(_resigned(_response(), mutate))


def test_wrong_destination_is_refused() -> None:
    with pytest.raises(MessageError, match="Destination"):
        _read(_response(destination="https://evil/acs"))


def test_wrong_in_response_to_is_refused() -> None:
    with pytest.raises(MessageError, match="InResponseTo"):
        _read(_response(in_response_to="_other"))


def test_expired_assertion_is_refused() -> None:
    with pytest.raises(MessageError, match="expired|too old"):
        _read(_response(), now=NOW + timedelta(minutes=10))


def test_assertion_from_the_future_is_refused() -> None:
    with pytest.raises(MessageError, match="future|not yet valid"):
        _read(_response(), now=NOW - timedelta(minutes=5))


def test_wrong_issuer_is_refused() -> None:
    with pytest.raises(MessageError, match="Issuer"):
        _read(_response(issuer="urn:other-idp"))


def test_comment_inside_an_identifier_does_not_truncate_it() -> None:
    def mutate(assertion: etree._Element) -> None:
        name_id = child(assertion, f".//{SAML}AttributeValue/{SAML}NameID")
        name_id.text = "999"
        name_id.append(etree.Comment("x"))
        name_id[-1].tail = "993653"
    result = _read(_resigned(_response(), mutate))
    assert result.attributes["urn:nl-eid-gdi:1.0:ActingSubjectID"] == (
        "urn:nl-eid-gdi:1.0:id:legacy-BSN|999993653",)


def test_doctype_is_refused_before_anything_else() -> None:
    document = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "y">]>' + _response()
    with pytest.raises(MessageError, match="DOCTYPE"):
        _read(document)


def test_second_assertion_is_refused() -> None:
    root = parse(_response())
    root.remove(child(root, DS + "Signature"))
    root.append(etree.fromstring(etree.tostring(child(root, SAML + "Assertion"))))
    with pytest.raises(MessageError, match="exactly one"):
        _read(etree.tostring(signing.sign(root, IDP_KEY)))


def test_error_status_is_reported_after_the_signature_is_checked() -> None:
    document = build_error_response(
        issuer=IDP, destination=ACS, in_response_to="_req",
        code="urn:oasis:names:tc:SAML:2.0:status:Responder",
        sub_code="urn:oasis:names:tc:SAML:2.0:status:AuthnFailed",
        message="Authentication cancelled", key=IDP_KEY, now=NOW)
    with pytest.raises(StatusError) as caught:
        _read(document)
    assert caught.value.sub_code.endswith("AuthnFailed")
    with pytest.raises(MessageError, match="trusted key"):
        _read(document, certificates=[OTHER_KEY.certificate])


def test_response_status_is_read_from_the_protocol_namespace() -> None:
    root = parse(_response())
    assert root.find(f"{SAMLP}Status/{SAMLP}StatusCode") is not None
