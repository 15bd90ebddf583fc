"""Namespaces and a hardened XML parser for every SAML document the broker receives."""

from __future__ import annotations

from lxml import etree

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "xs": "http://www.w3.org/2001/XMLSchema",
}
SAMLP = "{%s}" % NS["samlp"]
SAML = "{%s}" % NS["saml"]
MD = "{%s}" % NS["md"]
DS = "{%s}" % NS["ds"]

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
ATTRNAME_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

#: Largest SAML message the broker will parse.
MAX_MESSAGE_BYTES = 256 * 1024


class XmlError(ValueError):
    """The document is not one the broker will read (malformed, DOCTYPE, too large)."""


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
    huge_tree=False, remove_blank_text=False, collect_ids=False,
)


def parse(document: bytes) -> etree._Element:
    """Parse ``document``, refusing any DOCTYPE, entity, or oversized input."""
    if len(document) > MAX_MESSAGE_BYTES:
        raise XmlError("document too large")
    if b"<!DOCTYPE" in document.upper() or b"<!ENTITY" in document.upper():
        raise XmlError("DOCTYPE and entities are not allowed")
    try:
        root = etree.fromstring(document, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise XmlError(f"malformed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise XmlError("DOCTYPE is not allowed")
    return root


def text_of(element: etree._Element | None) -> str | None:
    """The element's text, refusing mixed content (comments or children inside).

    Comment injection (``999<!---->993653``) splits the text into pieces; taking only
    ``.text`` would read a truncated identifier, so such content is refused outright.
    """
    if element is None:
        return None
    if len(element):
        raise XmlError(f"unexpected content inside {etree.QName(element).localname}")
    return (element.text or "").strip()


def tostring(element: etree._Element) -> bytes:
    return etree.tostring(element, xml_declaration=False, encoding="utf-8")
