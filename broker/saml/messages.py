"""SAML 2.0 protocol messages: AuthnRequest and Response, built and read.

:func:`read_response` applies the Web Browser SSO profile's checks (SAML Profiles 4.1.4.3)
that pysaml2 leaves optional, all of them mandatory here: signed Response *and* Assertion by a
metadata key, Issuer, Destination, exactly one Assertion, bearer SubjectConfirmation with
Recipient, InResponseTo and NotOnOrAfter, Conditions with an AudienceRestriction for us, and an
AuthnStatement. Replay and single use of InResponseTo are the caller's (they need shared state).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from cryptography import x509
from lxml import etree

from broker.keys import KeyPair
from broker.saml import signing
from broker.saml.xml import ATTRNAME_URI
from broker.saml.xml import BINDING_POST
from broker.saml.xml import CM_BEARER
from broker.saml.xml import NAMEID_ENTITY
from broker.saml.xml import NAMEID_TRANSIENT
from broker.saml.xml import NS
from broker.saml.xml import SAML
from broker.saml.xml import SAMLP
from broker.saml.xml import STATUS_SUCCESS
from broker.saml.xml import XmlError
from broker.saml.xml import parse
from broker.saml.xml import text_of
from broker.saml.xml import tostring


class MessageError(ValueError):
    """The message breaks the protocol; the text says which rule (never personal data)."""


class StatusError(MessageError):
    """A valid, signed Response that reports failure (e.g. AuthnFailed, NoAuthnContext)."""

    def __init__(self, code: str, sub_code: str | None, message: str | None) -> None:
        super().__init__(f"status {code} / {sub_code}: {message}")
        self.code, self.sub_code, self.message = code, sub_code, message


def new_id() -> str:
    """A message or assertion ID: 160 random bits, starting with a letter as xs:ID needs."""
    return "_" + secrets.token_hex(20)


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: str | None, what: str) -> datetime:
    if not value:
        raise MessageError(f"{what} missing")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MessageError(f"{what} is not a valid instant") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- AuthnRequest ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthnRequest:
    id: str
    issuer: str
    issue_instant: datetime
    destination: str | None = None
    acs_url: str | None = None
    acs_index: int | None = None
    protocol_binding: str | None = None
    attribute_consuming_service_index: int | None = None
    requested_contexts: tuple[str, ...] = ()
    comparison: str = "exact"
    idp_list: tuple[str, ...] = ()
    requester_ids: tuple[str, ...] = ()
    force_authn: bool = False
    is_passive: bool = False
    #: Extensions Attribute name -> values (ST-SAML IntendedAudience / ServiceUUID)
    extension_attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)


def build_authn_request(*, issuer: str, destination: str, acs_url: str,
                        requested_contexts: Sequence[str] = (), comparison: str = "minimum",
                        attribute_consuming_service_index: int | None = None,
                        force_authn: bool = False, request_id: str | None = None,
                        now: datetime | None = None) -> tuple[str, bytes]:
    """An unsigned AuthnRequest (the Redirect binding signs the query string)."""
    request_id = request_id or new_id()
    attrs = {
        "ID": request_id, "Version": "2.0", "IssueInstant": instant(now or datetime.now(UTC)),
        "Destination": destination, "AssertionConsumerServiceURL": acs_url,
        "ProtocolBinding": BINDING_POST,
    }
    if attribute_consuming_service_index is not None:
        attrs["AttributeConsumingServiceIndex"] = str(attribute_consuming_service_index)
    if force_authn:
        attrs["ForceAuthn"] = "true"
    root = etree.Element(SAMLP + "AuthnRequest", attrs,
                         nsmap={"samlp": NS["samlp"], "saml": NS["saml"]})
    etree.SubElement(root, SAML + "Issuer").text = issuer
    if requested_contexts:
        context = etree.SubElement(root, SAMLP + "RequestedAuthnContext", {"Comparison": comparison})
        for uri in requested_contexts:
            etree.SubElement(context, SAML + "AuthnContextClassRef").text = uri
    return request_id, tostring(root)


def read_authn_request(document: bytes, *, now: datetime, skew: int) -> AuthnRequest:
    """Read an AuthnRequest's fields; signature checks belong to the binding (caller).

    Mixed content where text is expected (a comment splitting the Issuer) is a MessageError
    like any other broken request, never an unexpected XmlError.
    """
    root = _parse_root(document, SAMLP + "AuthnRequest")
    try:
        return _authn_request(root, now=now, skew=skew)
    except XmlError as exc:
        raise MessageError(str(exc)) from None


def _authn_request(root: etree._Element, *, now: datetime, skew: int) -> AuthnRequest:
    request_id = root.get("ID")
    if not request_id:
        raise MessageError("AuthnRequest has no ID")
    issue_instant = parse_instant(root.get("IssueInstant"), "IssueInstant")
    if abs((issue_instant - now).total_seconds()) > skew + 300:
        raise MessageError("AuthnRequest IssueInstant is too far from now")
    issuer = text_of(root.find(SAML + "Issuer"))
    if not issuer:
        raise MessageError("AuthnRequest has no Issuer")
    context = root.find(SAMLP + "RequestedAuthnContext")
    scoping = root.find(SAMLP + "Scoping")
    return AuthnRequest(
        id=request_id, issuer=issuer, issue_instant=issue_instant,
        destination=root.get("Destination"),
        acs_url=root.get("AssertionConsumerServiceURL"),
        acs_index=_int(root.get("AssertionConsumerServiceIndex"), "AssertionConsumerServiceIndex"),
        protocol_binding=root.get("ProtocolBinding"),
        attribute_consuming_service_index=_int(root.get("AttributeConsumingServiceIndex"),
                                               "AttributeConsumingServiceIndex"),
        requested_contexts=tuple(
            text_of(ref) or "" for ref in context.findall(SAML + "AuthnContextClassRef")
        ) if context is not None else (),
        comparison=context.get("Comparison", "exact") if context is not None else "exact",
        idp_list=tuple(
            entry.get("ProviderID", "") for entry in scoping.iterfind(f"{SAMLP}IDPList/{SAMLP}IDPEntry")
        ) if scoping is not None else (),
        requester_ids=tuple(
            text_of(node) or "" for node in scoping.findall(SAMLP + "RequesterID")
        ) if scoping is not None else (),
        force_authn=root.get("ForceAuthn") in ("true", "1"),
        is_passive=root.get("IsPassive") in ("true", "1"),
        extension_attributes=_extension_attributes(root),
    )


def _extension_attributes(root: etree._Element) -> dict[str, tuple[str, ...]]:
    extensions = root.find(SAMLP + "Extensions")
    if extensions is None:
        return {}
    return {attr.get("Name", ""): _attribute_values(attr)
            for attr in extensions.iterfind(f".//{SAML}Attribute")}


# -- Response: building ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NameIdValue:
    """An AttributeValue that holds a NameID (ST-SAML / eTD identifiers in plaintext form)."""

    value: str
    name_qualifier: str
    format: str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


AttributeValue = str | NameIdValue


@dataclass(frozen=True, slots=True, kw_only=True)
class AssertionContent:
    """What an identity provider asserts about the person, independent of the encoding."""

    name_id: str
    name_id_format: str = NAMEID_TRANSIENT
    authn_context: str
    authn_instant: datetime
    session_index: str | None = None
    authenticating_authorities: tuple[str, ...] = ()
    attributes: tuple[tuple[str, tuple[AttributeValue, ...]], ...] = ()


def build_response(*, issuer: str, destination: str, in_response_to: str | None, audience: str,
                   content: AssertionContent, key: KeyPair, now: datetime | None = None,
                   lifetime: int = 300) -> bytes:
    """A Response with one Assertion, both signed (Assertion first, then Response)."""
    now = now or datetime.now(UTC)
    response = _response_root(issuer, destination, in_response_to, now)
    _status(response, STATUS_SUCCESS, None, None)
    assertion = _assertion(issuer=issuer, destination=destination, in_response_to=in_response_to,
                           audience=audience, content=content, now=now, lifetime=lifetime)
    response.append(signing.sign(assertion, key))
    return tostring(signing.sign(response, key))


def build_error_response(*, issuer: str, destination: str, in_response_to: str | None,
                         code: str, sub_code: str | None, message: str | None, key: KeyPair,
                         now: datetime | None = None) -> bytes:
    """A signed Response without assertion, carrying a failure status."""
    response = _response_root(issuer, destination, in_response_to, now or datetime.now(UTC))
    _status(response, code, sub_code, message)
    return tostring(signing.sign(response, key))


def _response_root(issuer: str, destination: str, in_response_to: str | None,
                   now: datetime) -> etree._Element:
    attrs = {"ID": new_id(), "Version": "2.0", "IssueInstant": instant(now),
             "Destination": destination}
    if in_response_to:
        attrs["InResponseTo"] = in_response_to
    response = etree.Element(SAMLP + "Response", attrs,
                             nsmap={"samlp": NS["samlp"], "saml": NS["saml"]})
    etree.SubElement(response, SAML + "Issuer").text = issuer
    return response


def _status(response: etree._Element, code: str, sub_code: str | None, message: str | None) -> None:
    status = etree.SubElement(response, SAMLP + "Status")
    code_node = etree.SubElement(status, SAMLP + "StatusCode", {"Value": code})
    if sub_code:
        etree.SubElement(code_node, SAMLP + "StatusCode", {"Value": sub_code})
    if message:
        etree.SubElement(status, SAMLP + "StatusMessage").text = message


def _assertion(*, issuer: str, destination: str, in_response_to: str | None, audience: str,
               content: AssertionContent, now: datetime, lifetime: int) -> etree._Element:
    expires = instant(now + timedelta(seconds=lifetime))
    assertion = etree.Element(SAML + "Assertion", {
        "ID": new_id(), "Version": "2.0", "IssueInstant": instant(now)},
        nsmap={"saml": NS["saml"], "xsi": NS["xsi"], "xs": NS["xs"]})
    etree.SubElement(assertion, SAML + "Issuer").text = issuer
    subject = etree.SubElement(assertion, SAML + "Subject")
    etree.SubElement(subject, SAML + "NameID", {"Format": content.name_id_format}).text = content.name_id
    confirmation = etree.SubElement(subject, SAML + "SubjectConfirmation", {"Method": CM_BEARER})
    data = {"NotOnOrAfter": expires, "Recipient": destination}
    if in_response_to:
        data["InResponseTo"] = in_response_to
    etree.SubElement(confirmation, SAML + "SubjectConfirmationData", data)
    conditions = etree.SubElement(assertion, SAML + "Conditions", {
        "NotBefore": instant(now - timedelta(seconds=30)), "NotOnOrAfter": expires})
    restriction = etree.SubElement(conditions, SAML + "AudienceRestriction")
    etree.SubElement(restriction, SAML + "Audience").text = audience
    authn = etree.SubElement(assertion, SAML + "AuthnStatement", {
        "AuthnInstant": instant(content.authn_instant)})
    if content.session_index:
        authn.set("SessionIndex", content.session_index)
    context = etree.SubElement(authn, SAML + "AuthnContext")
    etree.SubElement(context, SAML + "AuthnContextClassRef").text = content.authn_context
    for authority in content.authenticating_authorities:
        etree.SubElement(context, SAML + "AuthenticatingAuthority").text = authority
    if content.attributes:
        statement = etree.SubElement(assertion, SAML + "AttributeStatement")
        for name, values in content.attributes:
            _attribute(statement, name, values)
    return assertion


def _attribute(statement: etree._Element, name: str, values: Sequence[AttributeValue]) -> None:
    attribute = etree.SubElement(statement, SAML + "Attribute", {"Name": name, "NameFormat": ATTRNAME_URI})
    for value in values:
        node = etree.SubElement(attribute, SAML + "AttributeValue")
        if isinstance(value, NameIdValue):
            etree.SubElement(node, SAML + "NameID", {
                "Format": value.format, "NameQualifier": value.name_qualifier}).text = value.value
        else:
            node.set("{%s}type" % NS["xsi"], "xs:string")
            node.text = value


# -- Response: reading -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedAssertion:
    """Values read only from the verified, signed Response and Assertion."""

    response_id: str
    assertion_id: str
    issuer: str
    in_response_to: str
    name_id: str
    name_id_format: str | None
    authn_context: str
    authn_instant: datetime
    session_index: str | None
    not_on_or_after: datetime
    attributes: dict[str, tuple[str, ...]]


def in_response_to_of(document: bytes) -> str | None:
    """The unverified InResponseTo, only to find the flow; everything else waits for checks."""
    try:
        return _parse_root(document, SAMLP + "Response").get("InResponseTo")
    except MessageError:
        return None


def read_response(document: bytes, *, idp_entity_id: str,
                  certificates: Sequence[x509.Certificate], acs_url: str, audience: str,
                  in_response_to: str, now: datetime, skew: int) -> VerifiedAssertion:
    """Verify and read a Response to our AuthnRequest ``in_response_to``."""
    tolerance = timedelta(seconds=skew)
    response = _verified(_parse_root(document, SAMLP + "Response"), certificates, "Response")
    _expect(response.get("Version") == "2.0", "Response Version is not 2.0")
    _expect_issuer(response, idp_entity_id)
    _expect(response.get("Destination") == acs_url, "Response Destination is not our ACS URL")
    _expect(response.get("InResponseTo") == in_response_to, "Response InResponseTo mismatch")
    issued = parse_instant(response.get("IssueInstant"), "Response IssueInstant")
    _expect(issued <= now + tolerance, "Response IssueInstant is in the future")
    _expect(issued >= now - tolerance - timedelta(minutes=5), "Response is too old")
    _raise_for_status(response)
    _expect(response.find(f".//{SAML}EncryptedAssertion") is None, "encrypted assertions unsupported")
    assertions = response.findall(SAML + "Assertion")
    _expect(len(assertions) == 1, "Response must hold exactly one Assertion")
    _expect(len(response.findall(f".//{SAML}Assertion")) == 1 + len(
        assertions[0].findall(f"{SAML}Advice//{SAML}Assertion")),
        "Assertion found outside its place")
    assertion = _verified(assertions[0], certificates, "Assertion")
    _expect(assertion.get("Version") == "2.0", "Assertion Version is not 2.0")
    _expect_issuer(assertion, idp_entity_id)
    not_on_or_after = _check_subject(assertion, acs_url, in_response_to, now, tolerance)
    _check_conditions(assertion, audience, now, tolerance)
    authn = assertion.find(SAML + "AuthnStatement")
    _expect(authn is not None, "Assertion has no AuthnStatement")
    assert authn is not None
    authn_context = text_of(authn.find(f"{SAML}AuthnContext/{SAML}AuthnContextClassRef"))
    _expect(bool(authn_context), "AuthnStatement has no AuthnContextClassRef")
    name_id = assertion.find(f"{SAML}Subject/{SAML}NameID")
    return VerifiedAssertion(
        response_id=response.get("ID", ""), assertion_id=assertion.get("ID", ""),
        issuer=idp_entity_id, in_response_to=in_response_to,
        name_id=_safe_text(name_id, "NameID"),
        name_id_format=name_id.get("Format") if name_id is not None else None,
        authn_context=authn_context or "",
        authn_instant=parse_instant(authn.get("AuthnInstant"), "AuthnInstant"),
        session_index=authn.get("SessionIndex"),
        not_on_or_after=not_on_or_after,
        attributes=_attributes(assertion),
    )


def _parse_root(document: bytes, tag: str) -> etree._Element:
    try:
        root = parse(document)
    except XmlError as exc:
        raise MessageError(str(exc)) from None
    if root.tag != tag:
        raise MessageError(f"expected {etree.QName(tag).localname}, got {etree.QName(root).localname}")
    return root


def _verified(element: etree._Element, certificates: Sequence[x509.Certificate],
              what: str) -> etree._Element:
    try:
        return signing.verify(element, certificates)
    except signing.SignatureError as exc:
        raise MessageError(f"{what}: {exc}") from None


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise MessageError(message)


def _expect_issuer(element: etree._Element, entity_id: str) -> None:
    """A signed Response and its Assertion both name the IdP asked (SAML Profiles 4.1.4.2)."""
    issuer = element.find(SAML + "Issuer")
    what = etree.QName(element).localname
    _expect(issuer is not None, f"{what} has no Issuer")
    assert issuer is not None
    _expect(issuer.get("Format", NAMEID_ENTITY) == NAMEID_ENTITY,
            f"{what} Issuer Format is not an entity id")
    _expect(_safe_text(issuer, "Issuer") == entity_id,
            f"{what} Issuer is not the identity provider asked")


def _raise_for_status(response: etree._Element) -> None:
    code = response.find(f"{SAMLP}Status/{SAMLP}StatusCode")
    _expect(code is not None, "Response has no StatusCode")
    assert code is not None
    if code.get("Value") == STATUS_SUCCESS:
        return
    sub = code.find(SAMLP + "StatusCode")
    message = response.find(f"{SAMLP}Status/{SAMLP}StatusMessage")
    raise StatusError(code.get("Value", ""), sub.get("Value") if sub is not None else None,
                      _safe_text(message, "StatusMessage") if message is not None else None)


def _check_subject(assertion: etree._Element, acs_url: str, in_response_to: str,
                   now: datetime, tolerance: timedelta) -> datetime:
    confirmations = assertion.findall(f"{SAML}Subject/{SAML}SubjectConfirmation")
    for confirmation in confirmations:
        data = confirmation.find(SAML + "SubjectConfirmationData")
        if confirmation.get("Method") != CM_BEARER or data is None:
            continue
        _expect(data.get("Recipient") == acs_url, "SubjectConfirmation Recipient is not our ACS")
        _expect(data.get("InResponseTo") == in_response_to, "SubjectConfirmation InResponseTo mismatch")
        _expect(data.get("NotBefore") is None, "bearer SubjectConfirmation must not have NotBefore")
        expiry = parse_instant(data.get("NotOnOrAfter"), "SubjectConfirmation NotOnOrAfter")
        _expect(now < expiry + tolerance, "assertion has expired (SubjectConfirmation)")
        return expiry
    raise MessageError("Assertion has no bearer SubjectConfirmation")


def _check_conditions(assertion: etree._Element, audience: str, now: datetime,
                      tolerance: timedelta) -> None:
    conditions = assertion.find(SAML + "Conditions")
    _expect(conditions is not None, "Assertion has no Conditions")
    assert conditions is not None
    not_before = conditions.get("NotBefore")
    if not_before:
        _expect(parse_instant(not_before, "NotBefore") <= now + tolerance, "assertion not yet valid")
    not_on_or_after = conditions.get("NotOnOrAfter")
    if not_on_or_after:
        _expect(now < parse_instant(not_on_or_after, "NotOnOrAfter") + tolerance,
                "assertion has expired (Conditions)")
    for condition in conditions:
        _check_condition(condition)
    restrictions = conditions.findall(SAML + "AudienceRestriction")
    _expect(bool(restrictions), "Assertion has no AudienceRestriction")
    for restriction in restrictions:  # every restriction must admit us (SAML Core 2.5.1.4)
        audiences = [_safe_text(a, "Audience") for a in restriction.findall(SAML + "Audience")]
        _expect(audience in audiences, "Assertion is not meant for us (Audience)")


def _check_condition(condition: etree._Element) -> None:
    """SAML Core 2.5.1.5: a condition we do not understand makes the assertion invalid. The
    broker re-issues what it receives, so a ProxyRestriction with Count 0 forbids its use."""
    if not isinstance(condition.tag, str):
        return  # a comment
    if condition.tag in (SAML + "AudienceRestriction", SAML + "OneTimeUse"):
        return  # audiences are checked below; the replay cache makes every assertion single use
    if condition.tag == SAML + "ProxyRestriction":
        _expect(condition.get("Count") != "0", "ProxyRestriction forbids a proxy to use it")
        return
    raise MessageError(f"unknown condition {etree.QName(condition).localname}")


def _attributes(assertion: etree._Element) -> dict[str, tuple[str, ...]]:
    attributes: dict[str, tuple[str, ...]] = {}
    for attribute in assertion.iterfind(f"{SAML}AttributeStatement/{SAML}Attribute"):
        name = attribute.get("Name", "")
        _expect(name not in attributes, f"attribute {name} given twice")
        attributes[name] = _attribute_values(attribute)
    return attributes


def _attribute_values(attribute: etree._Element) -> tuple[str, ...]:
    values = []
    for value in attribute.findall(SAML + "AttributeValue"):
        name_id = value.find(SAML + "NameID")
        if name_id is not None:
            qualifier = name_id.get("NameQualifier", "")
            values.append(f"{qualifier}|{_safe_text(name_id, 'NameID')}" if qualifier
                          else _safe_text(name_id, "NameID"))
        else:
            values.append(_safe_text(value, "AttributeValue"))
    return tuple(values)


def _safe_text(element: etree._Element | None, what: str) -> str:
    try:
        return text_of(element) or ""
    except XmlError:
        raise MessageError(f"{what} has unexpected content (comment or child)") from None


def _int(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 5:
        raise MessageError(f"{what} is not a small non-negative number")
    return int(value)
