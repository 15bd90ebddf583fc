"""SAML 2.0 metadata: building our own (IdP and SP roles) and reading a partner's.

A partner's metadata is the only source of keys the broker trusts for that partner.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from cryptography import x509
from lxml import etree

from broker.keys import KeyPair
from broker.saml import names
from broker.saml import signing
from broker.saml.xml import ATTRNAME_URI
from broker.saml.xml import BINDING_POST
from broker.saml.xml import BINDING_REDIRECT
from broker.saml.xml import DS
from broker.saml.xml import MD
from broker.saml.xml import NAMEID_TRANSIENT
from broker.saml.xml import NS
from broker.saml.xml import SAML
from broker.saml.xml import XmlError
from broker.saml.xml import parse
from broker.saml.xml import text_of

PROTOCOL = NS["samlp"]
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class MetadataError(ValueError):
    """The document is not usable SAML metadata; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    binding: str
    location: str
    index: int | None = None
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class AttributeConsumingService:
    index: int
    name: str
    #: RequestedAttribute name -> its AttributeValues (e.g. ServiceUUID -> (uuid,))
    requested: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityMetadata:
    """What the broker uses of one entity's metadata."""

    entity_id: str
    signing_certificates: tuple[x509.Certificate, ...]
    sso_services: tuple[Endpoint, ...] = ()  #: IdP role
    acs_endpoints: tuple[Endpoint, ...] = ()  #: SP role
    attribute_consuming_services: tuple[AttributeConsumingService, ...] = ()
    want_authn_requests_signed: bool = False  #: IdP role
    authn_requests_signed: bool = False  #: SP role
    valid_until: datetime | None = None

    def sso_location(self, binding: str) -> str | None:
        return next((e.location for e in self.sso_services if e.binding == binding), None)

    def default_acs(self) -> Endpoint | None:
        posts = [e for e in self.acs_endpoints if e.binding == BINDING_POST]
        return next((e for e in posts if e.is_default), posts[0] if posts else None)


# -- reading ---------------------------------------------------------------------------------


def read(document: bytes, *, now: datetime | None = None,
         trusted: Sequence[x509.Certificate] | None = None) -> EntityMetadata:
    """Read one EntityDescriptor. With ``trusted``, its signature must verify with one of them."""
    try:
        root = parse(document)
    except XmlError as exc:
        raise MetadataError(str(exc)) from None
    if root.tag != MD + "EntityDescriptor":
        raise MetadataError("the document is not a SAML EntityDescriptor")
    if trusted is not None:
        try:
            root = signing.verify(root, trusted)
        except signing.SignatureError as exc:
            raise MetadataError(f"metadata signature: {exc}") from None
    entity_id = root.get("entityID")
    if not entity_id:
        raise MetadataError("EntityDescriptor has no entityID")
    valid_until = _instant(root.get("validUntil"))
    if valid_until and valid_until <= (now or datetime.now(UTC)):
        raise MetadataError(f"metadata of {entity_id} expired at {valid_until.isoformat()}")
    idp = _role(root, "IDPSSODescriptor")
    sp = _role(root, "SPSSODescriptor")
    if idp is None and sp is None:
        raise MetadataError(f"{entity_id} has neither an IdP nor an SP role for SAML 2.0")
    certificates = tuple(c for role in (idp, sp) if role is not None for c in _certs(role))
    if not certificates:
        raise MetadataError(f"{entity_id} publishes no signing certificate")
    return EntityMetadata(
        entity_id=entity_id,
        signing_certificates=certificates,
        sso_services=_endpoints(idp, "SingleSignOnService") if idp is not None else (),
        acs_endpoints=_endpoints(sp, "AssertionConsumerService") if sp is not None else (),
        attribute_consuming_services=_consuming_services(sp) if sp is not None else (),
        want_authn_requests_signed=idp is not None
        and idp.get("WantAuthnRequestsSigned") in ("true", "1"),
        authn_requests_signed=sp is not None and sp.get("AuthnRequestsSigned") in ("true", "1"),
        valid_until=valid_until,
    )


def _role(root: etree._Element, name: str) -> etree._Element | None:
    for role in root.findall(MD + name):
        if PROTOCOL in (role.get("protocolSupportEnumeration") or "").split():
            return role
    return None


def _certs(role: etree._Element) -> list[x509.Certificate]:
    certificates = []
    for descriptor in role.findall(MD + "KeyDescriptor"):
        if descriptor.get("use", "signing") != "signing":
            continue
        for node in descriptor.iterfind(f".//{DS}X509Certificate"):
            try:
                der = base64.b64decode("".join((text_of(node) or "").split()), validate=True)
                certificates.append(x509.load_der_x509_certificate(der))
            except (binascii.Error, ValueError, XmlError):
                raise MetadataError("a signing certificate in the metadata is unreadable") from None
    return certificates


def _endpoints(role: etree._Element, name: str) -> tuple[Endpoint, ...]:
    endpoints = []
    for node in role.findall(MD + name):
        binding, location = node.get("Binding"), node.get("Location")
        if not binding or not location:
            raise MetadataError(f"{name} without Binding or Location")
        if not location.startswith(("https://", "http://")):
            raise MetadataError(f"{name} Location is not an http(s) URL: {location}")
        index = node.get("index")
        endpoints.append(Endpoint(binding, location, int(index) if index is not None else None,
                                  node.get("isDefault") in ("true", "1")))
    return tuple(endpoints)


def _consuming_services(role: etree._Element) -> tuple[AttributeConsumingService, ...]:
    services = []
    for node in role.findall(MD + "AttributeConsumingService"):
        requested = {
            attr.get("Name", ""): tuple(text_of(v) or "" for v in attr.findall(SAML + "AttributeValue"))
            for attr in node.findall(MD + "RequestedAttribute")
        }
        name = text_of(node.find(MD + "ServiceName")) or ""
        services.append(AttributeConsumingService(int(node.get("index", "0")), name, requested))
    return tuple(services)


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MetadataError(f"not a valid instant: {value}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- building --------------------------------------------------------------------------------


def idp_descriptor(*, entity_id: str, key: KeyPair, sso_url: str,
                   valid_for: timedelta = timedelta(days=7), sign: bool = True,
                   want_authn_requests_signed: bool = False,
                   name_id_formats: Sequence[str] = (NAMEID_TRANSIENT,)) -> bytes:
    """Metadata for an identity provider answering at ``sso_url`` (Redirect and POST)."""
    root = _entity(entity_id, valid_for)
    role = etree.SubElement(root, MD + "IDPSSODescriptor", {
        "protocolSupportEnumeration": PROTOCOL,
        "WantAuthnRequestsSigned": "true" if want_authn_requests_signed else "false",
    })
    _key_descriptor(role, key)
    for name_id_format in name_id_formats:
        etree.SubElement(role, MD + "NameIDFormat").text = name_id_format
    for binding in (BINDING_REDIRECT, BINDING_POST):
        etree.SubElement(role, MD + "SingleSignOnService", {"Binding": binding, "Location": sso_url})
    return _finish(root, key if sign else None)


def sp_descriptor(*, entity_id: str, key: KeyPair, acs_url: str,
                  services: Sequence[tuple[int, str, str]] = (),
                  valid_for: timedelta = timedelta(days=7), sign: bool = True,
                  service_attribute: str = names.ST_SERVICE_UUID) -> bytes:
    """Metadata for a service provider. ``services``: (index, name, ServiceUUID) triples, each
    an AttributeConsumingService requesting ``service_attribute`` (eTD: its own name)."""
    root = _entity(entity_id, valid_for)
    role = etree.SubElement(root, MD + "SPSSODescriptor", {
        "protocolSupportEnumeration": PROTOCOL,
        "AuthnRequestsSigned": "true", "WantAssertionsSigned": "true",
    })
    _key_descriptor(role, key)
    etree.SubElement(role, MD + "AssertionConsumerService", {
        "Binding": BINDING_POST, "Location": acs_url, "index": "0", "isDefault": "true"})
    for index, name, service_uuid in services:
        acs = etree.SubElement(role, MD + "AttributeConsumingService", {"index": str(index)})
        service_name = etree.SubElement(acs, MD + "ServiceName", {XML_LANG: "nl"})
        service_name.text = name
        requested = etree.SubElement(acs, MD + "RequestedAttribute", {
            "Name": service_attribute, "NameFormat": ATTRNAME_URI,
            "isRequired": "true"})
        etree.SubElement(requested, SAML + "AttributeValue").text = service_uuid
    return _finish(root, key if sign else None)


def _entity(entity_id: str, valid_for: timedelta) -> etree._Element:
    valid_until = (datetime.now(UTC) + valid_for).strftime("%Y-%m-%dT%H:%M:%SZ")
    identifier = "_" + base64.b32encode(entity_id.encode()[-20:]).decode().rstrip("=").lower()
    return etree.Element(MD + "EntityDescriptor", {
        "entityID": entity_id, "validUntil": valid_until, "ID": identifier,
    }, nsmap={"md": NS["md"], "ds": NS["ds"], "saml": NS["saml"]})


def _key_descriptor(role: etree._Element, key: KeyPair) -> None:
    descriptor = etree.SubElement(role, MD + "KeyDescriptor", {"use": "signing"})
    info = etree.SubElement(descriptor, DS + "KeyInfo")
    data = etree.SubElement(info, DS + "X509Data")
    etree.SubElement(data, DS + "X509Certificate").text = key.certificate_b64


def _finish(root: etree._Element, key: KeyPair | None) -> bytes:
    if key is not None:
        root = signing.sign(root, key)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")
