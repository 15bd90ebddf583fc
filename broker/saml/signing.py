"""Enveloped XML signatures (RSA-SHA256 or ECDSA-SHA256, exclusive c14n) with signxml.

Verification trusts only the certificates given (from metadata), requires the signature to be
a direct child of the element and to reference that element's own ID, and returns the element
as signed. SHA-1, HMAC and KeyInfo-supplied keys are refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from signxml.algorithms import DigestAlgorithm
from signxml.algorithms import SignatureMethod
from signxml.exceptions import InvalidInput
from signxml.exceptions import InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration
from signxml.verifier import XMLVerifier

from broker.keys import KeyPair
from broker.saml.xml import DS
from broker.saml.xml import SAML

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#: The only transforms and canonicalisation a SAML signature needs (SAML Core 5.4.3-5.4.4):
#: no comments variant, no XPath or XSLT, nothing that would make "what is signed" ambiguous.
_ALLOWED_TRANSFORMS = frozenset({ENVELOPED, EXC_C14N})

_ALLOWED = SignatureConfiguration(
    location="./",
    expect_references=1,
    signature_methods=frozenset({SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA512,
                                 SignatureMethod.ECDSA_SHA256, SignatureMethod.ECDSA_SHA512}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA512}),
)


class SignatureError(ValueError):
    """The element is unsigned, badly signed, or signed by a key we do not trust."""


def sign(element: etree._Element, key: KeyPair) -> etree._Element:
    """Sign ``element`` in place position-correctly (after its Issuer) and return the result.

    SAML's schemas put ``ds:Signature`` right after ``saml:Issuer``; signxml fills a
    placeholder there.
    """
    _insert_placeholder(element)
    is_ec = isinstance(key.private_key, ec.EllipticCurvePrivateKey)
    signer = XMLSigner(
        signature_algorithm=SignatureMethod.ECDSA_SHA256 if is_ec else SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=EXC_C14N,
    )
    signer.namespaces = {"ds": DS[1:-1]}
    signed: etree._Element = signer.sign(
        element, key=key.private_key, cert=[key.certificate],  # type: ignore[arg-type]
        reference_uri="#" + element.get("ID", ""),
    )
    return signed


def verify(element: etree._Element, certificates: Sequence[x509.Certificate]) -> etree._Element:
    """The element as signed by one of ``certificates``; SignatureError otherwise."""
    signature = element.find(DS + "Signature")
    if signature is None:
        raise SignatureError(f"{etree.QName(element).localname} is not signed")
    element_id = element.get("ID")
    if not element_id:
        raise SignatureError("signed element has no ID")
    _check_profile(signature, element_id)
    last_error: Exception | None = None
    for certificate in certificates:
        try:
            result = XMLVerifier().verify(element, x509_cert=certificate,
                                          expect_config=_ALLOWED)
        except (InvalidSignature, InvalidInput, ValueError, TypeError, etree.LxmlError) as exc:
            last_error = exc  # signxml reports malformed signatures in these forms too
            continue
        signed = result.signed_xml  # type: ignore[union-attr]
        if signed is None or signed.tag != element.tag or signed.get("ID") != element_id:
            raise SignatureError("signature does not cover the element that carries it")
        return signed  # type: ignore[no-any-return]
    raise SignatureError(f"signature not valid with any trusted key: {last_error}")


def _check_profile(signature: etree._Element, element_id: str) -> None:
    """Refuse what the SAML signature profile does not allow, before any cryptography: one
    Reference to this very element, exclusive c14n without comments, only the enveloped and
    exclusive-c14n transforms."""
    method = signature.find(f"{DS}SignedInfo/{DS}CanonicalizationMethod")
    if method is None or method.get("Algorithm") != EXC_C14N:
        raise SignatureError("canonicalization must be exclusive c14n without comments")
    references = signature.findall(f"{DS}SignedInfo/{DS}Reference")
    if len(references) != 1 or references[0].get("URI") != "#" + element_id:
        raise SignatureError("signature must have one Reference to the element's own ID")
    transforms = references[0].findall(f"{DS}Transforms/{DS}Transform")
    if len(transforms) > 2 or any(t.get("Algorithm") not in _ALLOWED_TRANSFORMS
                                  for t in transforms):
        raise SignatureError("signature uses a transform the SAML profile does not allow")


def _insert_placeholder(element: etree._Element) -> None:
    placeholder = etree.Element(DS + "Signature", {"Id": "placeholder"}, nsmap={"ds": DS[1:-1]})
    issuer = element.find(SAML + "Issuer")
    element.insert(element.index(issuer) + 1 if issuer is not None else 0, placeholder)
