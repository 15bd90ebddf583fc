"""Catalogue 1.1 (XSW) and 1.2 (signatures) against broker.saml.messages.read_response.

Every attack starts from a Response the identity provider really signed for LEGIT_BSN and
tries to make the reader take EVIL_BSN. read_response is stateless, so "nothing changed" at this
level means: the attack is refused, and the untouched original still reads as LEGIT_BSN (the
refusal is the attack's doing, not a broken fixture).
"""

from __future__ import annotations

import copy

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml.algorithms import DigestAlgorithm
from signxml.algorithms import SignatureMethod
from signxml.verifier import SignatureConfiguration
from signxml.verifier import XMLVerifier

from broker.saml import signing
from broker.saml.messages import MessageError
from broker.saml.xml import DS
from broker.saml.xml import parse
from tests.security import support
from tests.security.support import ALG_HMAC_SHA256
from tests.security.support import ALG_RSA_SHA1
from tests.security.support import ATTACKER_KEY
from tests.security.support import DIGEST_SHA1
from tests.security.support import EVIL_BSN
from tests.security.support import EXC_C14N_WITH_COMMENTS
from tests.security.support import IDP_KEY
from tests.security.support import LEGIT_BSN
from tests.security.support import OTHER_IDP
from tests.security.support import OTHER_IDP_KEY
from tests.security.support import assertion_of
from tests.security.support import bsn_of
from tests.security.support import hand_sign
from tests.security.support import legit_response
from tests.security.support import read
from tests.security.support import resign_assertion
from tests.security.support import resign_outer
from tests.security.support import serialise
from tests.security.support import signature_of
from tests.security.support import with_evil_bsn

LEGIT = legit_response()


def _refused(attacked: bytes, match: str | None = None, **kwargs: object) -> None:
    """The attack is refused, carries the evil identity, and the original still reads."""
    assert EVIL_BSN.encode() in attacked or b"<!DOCTYPE" in attacked
    with pytest.raises(MessageError, match=match):
        read(attacked, **kwargs)  # type: ignore[arg-type]
    assert bsn_of(read(LEGIT)) == LEGIT_BSN


# -- 1.1 XML Signature Wrapping ----------------------------------------------------------------


def test_xsw_01_response_hidden_in_signature_is_refused() -> None:
    _refused(support.xsw_01(LEGIT), "Response")


def test_xsw_02_response_as_detached_sibling_is_refused() -> None:
    _refused(support.xsw_02(LEGIT), "Response")


@pytest.mark.parametrize("outer", ["as-received", "outer-resigned"])
def test_xsw_03_evil_assertion_before_signed_one_is_refused(outer: str) -> None:
    attacked = support.xsw_03(LEGIT)
    _refused(resign_outer(attacked) if outer == "outer-resigned" else attacked)


@pytest.mark.parametrize("outer", ["as-received", "outer-resigned"])
def test_xsw_04_signed_assertion_nested_in_evil_one_is_refused(outer: str) -> None:
    attacked = support.xsw_04(LEGIT)
    _refused(resign_outer(attacked) if outer == "outer-resigned" else attacked)


@pytest.mark.parametrize("outer", ["as-received", "outer-resigned"])
def test_xsw_05_evil_assertion_keeps_signature_pristine_appended_is_refused(outer: str) -> None:
    attacked = support.xsw_05(LEGIT)
    _refused(resign_outer(attacked) if outer == "outer-resigned" else attacked)


@pytest.mark.parametrize("outer", ["as-received", "outer-resigned"])
def test_xsw_06_pristine_copy_inside_evil_signature_is_refused(outer: str) -> None:
    attacked = support.xsw_06(LEGIT)
    _refused(resign_outer(attacked) if outer == "outer-resigned" else attacked)


@pytest.mark.parametrize("outer", ["as-received", "outer-resigned"])
def test_xsw_07_evil_assertion_in_extensions_is_refused(outer: str) -> None:
    attacked = support.xsw_07(LEGIT)
    _refused(resign_outer(attacked) if outer == "outer-resigned" else attacked)


@pytest.mark.parametrize("outer", ["as-received", "outer-resigned"])
def test_xsw_08_pristine_copy_in_ds_object_is_refused(outer: str) -> None:
    attacked = support.xsw_08(LEGIT)
    _refused(resign_outer(attacked) if outer == "outer-resigned" else attacked)


@pytest.mark.parametrize("attack", [support.xsw_09, support.xsw_09_appended],
                         ids=["signed-in-advice", "evil-appended"])
@pytest.mark.parametrize("outer", ["as-received", "outer-resigned"])
def test_xsw_09_multiple_assertions_one_signed_is_refused(outer: str,
                                                          attack: support.Attack) -> None:
    attacked = attack(LEGIT)
    _refused(resign_outer(attacked) if outer == "outer-resigned" else attacked)


@pytest.mark.parametrize("outer", ["as-received", "outer-resigned"])
def test_xsw_10_assertion_signature_relocated_under_response_is_refused(outer: str) -> None:
    attacked = support.xsw_10(LEGIT)
    _refused(resign_outer(attacked) if outer == "outer-resigned" else attacked)


def test_xsw_11_doctype_entity_built_id_is_refused() -> None:
    root = parse(LEGIT)
    response_id = root.get("ID", "")
    with_evil_bsn(root)
    body = serialise(root).replace(f'ID="{response_id}"'.encode(), b'ID="&rid;"', 1)
    attacked = f'<!DOCTYPE r [<!ENTITY rid "{response_id}">]>'.encode() + body
    _refused(attacked, "DOCTYPE")


def test_xsw_13_namespaced_id_attribute_pollution_is_refused() -> None:
    """An evil Response whose ID is only given as x:ID; the original ID on a hidden copy."""
    original = parse(LEGIT)
    response_id = original.get("ID", "")
    evil = copy.deepcopy(original)
    del evil.attrib["ID"]
    evil.set("{urn:x}ID", response_id)
    with_evil_bsn(evil)
    _refused(serialise(evil), "ID|Response")
    pristine = support.unsigned_copy(original)
    signature_of(evil).append(pristine)
    _refused(serialise(evil), "ID|Response")


def test_xsw_14_digest_of_empty_canonical_form_is_refused() -> None:
    root = parse(LEGIT)
    with_evil_bsn(root)
    reference = root.find(f"{DS}Signature/{DS}SignedInfo/{DS}Reference/{DS}DigestValue")
    assert reference is not None
    reference.text = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    _refused(serialise(root), "Response")


def test_xsw_15_other_signed_idp_document_as_response_is_refused() -> None:
    """The IdP's own signed metadata, and a Response it signed for another SP."""
    from broker.saml import metadata

    signed_metadata = metadata.idp_descriptor(entity_id=support.IDP, key=IDP_KEY,
                                              sso_url="https://idp.example/sso")
    with pytest.raises(MessageError, match="expected Response"):
        read(signed_metadata)
    for_other_sp = legit_response(content=support.content(EVIL_BSN),
                                  audience="https://other-sp.example",
                                  destination="https://other-sp.example/acs")
    _refused(for_other_sp, "Destination")


def test_xsw_16_second_reference_in_signed_info_is_refused() -> None:
    root = parse(LEGIT)
    with_evil_bsn(assertion_of(root))

    def second_reference(signed_info: etree._Element) -> None:
        reference = signed_info.find(DS + "Reference")
        assert reference is not None
        extra = copy.deepcopy(reference)
        extra.set("URI", "#" + assertion_of(root).get("ID", ""))
        signed_info.append(extra)

    hand_sign(root, key=IDP_KEY, edit_signed_info=second_reference)
    _refused(serialise(root), "Response")


def test_xsw_17_trailing_root_element_is_refused() -> None:
    evil = support.xsw_03(LEGIT)
    _refused(LEGIT + evil, "malformed")


# -- 1.2 Signature presence, keys and algorithms -----------------------------------------------


def test_sig_01_all_signatures_stripped_is_refused() -> None:
    root = parse(LEGIT)
    for signature in list(root.iter(DS + "Signature")):
        parent = signature.getparent()
        assert parent is not None
        parent.remove(signature)
    with_evil_bsn(root)
    _refused(serialise(root), "not signed")


def test_sig_02_assertion_signature_stripped_under_signed_response_is_refused() -> None:
    def unsigned_evil(assertion: etree._Element) -> None:
        with_evil_bsn(assertion)

    root = parse(resign_assertion(LEGIT, unsigned_evil))
    assertion = assertion_of(root)
    assertion.remove(signature_of(assertion))
    for signature in root.findall(DS + "Signature"):
        root.remove(signature)
    _refused(serialise(signing.sign(root, IDP_KEY)), "Assertion is not signed")


def test_sig_02_response_signature_stripped_is_refused() -> None:
    def evil(assertion: etree._Element) -> None:
        with_evil_bsn(assertion)

    root = parse(resign_assertion(LEGIT, evil))
    root.remove(signature_of(root))
    _refused(serialise(root), "Response is not signed")


@pytest.mark.parametrize("target, value", [
    pytest.param("SignatureValue", "", id="empty-signature-value"),
    pytest.param("DigestValue", "", id="empty-digest-value"),
    pytest.param("SignatureValue", "AAAA", id="junk-signature-value"),
])
def test_sig_03_empty_or_junk_signature_values_are_refused(target: str, value: str) -> None:
    root = parse(LEGIT)
    with_evil_bsn(root)
    node = root.find(f"{DS}Signature//{DS}{target}")
    assert node is not None
    node.text = value
    _refused(serialise(root), "Response")


def test_sig_03_comment_inside_digest_value_is_refused() -> None:
    root = parse(LEGIT)
    node = root.find(f"{DS}Signature//{DS}DigestValue")
    assert node is not None
    original_digest = node.text
    with_evil_bsn(root)
    node.text = "AAAA"
    node.append(etree.Comment("x"))
    node[-1].tail = original_digest
    _refused(serialise(root), "Response")


def test_sig_04_attacker_key_in_keyinfo_is_refused() -> None:
    attacked = legit_response(content=support.content(EVIL_BSN), key=ATTACKER_KEY)
    certificate = parse(attacked).find(f"{DS}Signature/{DS}KeyInfo//{DS}X509Certificate")
    assert certificate is not None  # the attacker's certificate travels in KeyInfo
    assert "".join((certificate.text or "").split()) == ATTACKER_KEY.certificate_b64
    _refused(attacked, "trusted key")


def test_sig_05_hmac_with_public_certificate_as_secret_is_refused() -> None:
    for secret in (IDP_KEY.certificate_pem, IDP_KEY.certificate_pem.strip(),
                   IDP_KEY.certificate.public_bytes(serialization.Encoding.DER)):
        root = parse(LEGIT)
        with_evil_bsn(root)
        hand_sign(root, key=None, signature_method=ALG_HMAC_SHA256, hmac_secret=secret)
        _refused(serialise(root), "Response")


def _rsa_key_value(key: rsa.RSAPublicKey) -> etree._Element:
    import base64

    numbers = key.public_numbers()

    def b64(number: int) -> str:
        return base64.b64encode(number.to_bytes((number.bit_length() + 7) // 8, "big")).decode()

    value = etree.Element(DS + "KeyValue")
    rsa_value = etree.SubElement(value, DS + "RSAKeyValue")
    etree.SubElement(rsa_value, DS + "Modulus").text = b64(numbers.n)
    etree.SubElement(rsa_value, DS + "Exponent").text = b64(numbers.e)
    return value


@pytest.mark.parametrize("keep_x509", [False, True], ids=["keyvalue-only", "x509-and-keyvalue"])
def test_sig_06_attacker_key_value_in_keyinfo_is_refused(keep_x509: bool) -> None:
    root = parse(legit_response(content=support.content(EVIL_BSN), key=ATTACKER_KEY))
    public = ATTACKER_KEY.private_key.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    for element in (root, assertion_of(root)):
        info = signature_of(element).find(DS + "KeyInfo")
        assert info is not None
        if not keep_x509:
            for child in list(info):
                info.remove(child)
        else:  # the trusted IdP certificate beside the attacker's KeyValue
            data = info.find(f"{DS}X509Data/{DS}X509Certificate")
            assert data is not None
            data.text = IDP_KEY.certificate_b64
        info.append(_rsa_key_value(public))
    _refused(serialise(root), "Response")


def test_sig_09_sha1_signature_and_digest_are_refused() -> None:
    """Hand-signed with the real IdP key using RSA-SHA1/SHA-1: valid, but not allowed."""
    root = parse(LEGIT)
    with_evil_bsn(root)  # legitimately re-signed by the IdP key, only the algorithm is wrong
    assertion = assertion_of(root)
    hand_sign(assertion, key=IDP_KEY, signature_method=ALG_RSA_SHA1, digest_method=DIGEST_SHA1)
    hand_sign(root, key=IDP_KEY, signature_method=ALG_RSA_SHA1, digest_method=DIGEST_SHA1)
    permissive = SignatureConfiguration(
        location="./", expect_references=1,
        signature_methods=frozenset({SignatureMethod.RSA_SHA1}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA1}))
    XMLVerifier().verify(root, x509_cert=IDP_KEY.certificate, expect_config=permissive)
    _refused(serialise(root), "Response")


def test_sig_10_response_from_another_trusted_idp_is_refused() -> None:
    from_other = legit_response(issuer=OTHER_IDP, key=OTHER_IDP_KEY,
                                content=support.content(EVIL_BSN))
    _refused(from_other, "trusted key")
    both = [IDP_KEY.certificate, OTHER_IDP_KEY.certificate]
    _refused(from_other, "Issuer", certificates=both)


def test_sig_10_assertion_of_another_idp_inside_our_idps_response_is_refused() -> None:
    other_assertion = assertion_of(parse(legit_response(
        issuer=OTHER_IDP, key=OTHER_IDP_KEY, content=support.content(EVIL_BSN))))
    root = parse(LEGIT)
    root.replace(assertion_of(root), other_assertion)
    attacked = resign_outer(serialise(root))
    _refused(attacked, "Assertion Issuer|trusted key")
    _refused(attacked, "Assertion Issuer",
             certificates=[IDP_KEY.certificate, OTHER_IDP_KEY.certificate])


def test_sig_11_reference_to_another_node_is_refused() -> None:
    root = parse(LEGIT)
    with_evil_bsn(root)
    hand_sign(root, key=IDP_KEY, reference_uri="#" + assertion_of(root).get("ID", ""))
    _refused(serialise(root), "Response")


def test_sig_11_whole_document_reference_uri_is_refused() -> None:
    root = parse(LEGIT)
    with_evil_bsn(root)
    assertion = assertion_of(root)
    hand_sign(assertion, key=IDP_KEY, reference_uri="")
    hand_sign(root, key=IDP_KEY, reference_uri="")
    _refused(serialise(root), "Response|Assertion")




@pytest.mark.parametrize("algorithm", [
    pytest.param("http://www.w3.org/TR/1999/REC-xslt-19991116",
                 id="xslt"),
    pytest.param("http://www.w3.org/TR/1999/REC-xpath-19991116",
                 id="xpath"),
    pytest.param("http://www.w3.org/2000/09/xmldsig#base64", id="base64"),
])
def test_sig_12_xslt_and_xpath_transforms_are_refused(algorithm: str) -> None:
    """Both signatures re-made by the real IdP key with an extra Transform."""
    root = parse(LEGIT)
    with_evil_bsn(root)

    def extra_transform(signed_info: etree._Element) -> None:
        transforms = signed_info.find(f"{DS}Reference/{DS}Transforms")
        assert transforms is not None
        etree.SubElement(transforms, DS + "Transform", {"Algorithm": algorithm})

    hand_sign(assertion_of(root), key=IDP_KEY, edit_signed_info=extra_transform)
    hand_sign(root, key=IDP_KEY, edit_signed_info=extra_transform)
    _refused(serialise(root), "Response|Assertion")


def test_sig_13_canonicalisation_with_comments_is_refused() -> None:
    root = parse(LEGIT)
    with_evil_bsn(root)

    def with_comments(signed_info: etree._Element) -> None:
        method = signed_info.find(DS + "CanonicalizationMethod")
        assert method is not None
        method.set("Algorithm", EXC_C14N_WITH_COMMENTS)
        for transform in signed_info.iterfind(f"{DS}Reference/{DS}Transforms/{DS}Transform"):
            if "exc-c14n" in transform.get("Algorithm", ""):
                transform.set("Algorithm", EXC_C14N_WITH_COMMENTS)

    hand_sign(assertion_of(root), key=IDP_KEY, edit_signed_info=with_comments)
    hand_sign(root, key=IDP_KEY, edit_signed_info=with_comments)
    _refused(serialise(root), "Response|Assertion")
