"""Catalogue 1.3 (comment injection), 1.4 (parser abuse) and 1.5 (protocol checks) against
broker.saml.messages.read_response. Rule mutations are re-signed with the real IdP key so each
test proves its rule on its own; every refusal is paired with the untouched original reading."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from lxml import etree

from broker.saml.messages import AssertionContent
from broker.saml.messages import MessageError
from broker.saml.messages import StatusError
from broker.saml.messages import instant
from broker.saml.xml import CM_BEARER
from broker.saml.xml import DS
from broker.saml.xml import SAML
from broker.saml.xml import SAMLP
from broker.saml.xml import parse
from tests.security import support
from tests.security.support import ACS
from tests.security.support import EVIL_BSN
from tests.security.support import IDP_KEY
from tests.security.support import LEGIT_BSN
from tests.security.support import NOW
from tests.security.support import SKEW
from tests.security.support import bsn_of
from tests.security.support import hand_sign
from tests.security.support import legit_response
from tests.security.support import read
from tests.security.support import resign_assertion
from tests.security.support import resign_response
from tests.security.support import serialise
from tests.security.support import with_evil_bsn

LEGIT = legit_response()
SUBJECT_DATA = f"{SAML}Subject/{SAML}SubjectConfirmation/{SAML}SubjectConfirmationData"


def _refused(attacked: bytes, match: str | None = None, **kwargs: object) -> None:
    with pytest.raises(MessageError, match=match):
        read(attacked, **kwargs)  # type: ignore[arg-type]
    assert bsn_of(read(LEGIT)) == LEGIT_BSN


def _node(element: etree._Element, path: str) -> etree._Element:
    found = element.find(path)
    assert found is not None, path
    return found


@pytest.fixture
def canary() -> Iterator[socket.socket]:
    """A listening socket on loopback: any outbound fetch by the parser would connect here."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    yield server
    server.close()


def _no_connection(server: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        server.accept()


# -- 1.3 comment injection -----------------------------------------------------------------------


def test_c14n_01_comment_in_name_id_does_not_truncate_it() -> None:
    """A genuinely signed NameID 's00000000:9999906760'; a comment after the 9th digit keeps
    both signatures valid, yet the broker reads the whole value, never the victim's BSN."""
    signed = legit_response(content=AssertionContent(
        name_id=f"s00000000:{EVIL_BSN}0", authn_context=support.content().authn_context,
        authn_instant=NOW))
    attacked = support.comment_in_identifier(signed, f"s00000000:{EVIL_BSN}0", 19)
    assert b"<!---->" in attacked
    assert read(attacked).name_id == f"s00000000:{EVIL_BSN}0"


def test_c14n_02_comment_in_bsn_attribute_value_does_not_truncate_it() -> None:
    signed = legit_response(content=support.content(f"{EVIL_BSN}0"))
    attacked = support.comment_in_identifier(signed, f"{EVIL_BSN}0", 9)
    assert bsn_of(read(attacked)) == f"{EVIL_BSN}0"
    shifted = support.comment_in_identifier(LEGIT, LEGIT_BSN, 3)
    assert bsn_of(read(shifted)) == LEGIT_BSN


def test_c14n_03_cdata_split_identifier_is_read_whole() -> None:
    signed = legit_response(content=support.content(f"{EVIL_BSN}0"))
    attacked = signed.replace(f">{EVIL_BSN}0<".encode(), f"><![CDATA[{EVIL_BSN}]]>0<".encode())
    assert b"CDATA" in attacked
    assert bsn_of(read(attacked)) == f"{EVIL_BSN}0"


def test_c14n_03_processing_instruction_in_identifier_is_refused() -> None:
    signed = legit_response(content=support.content(f"{EVIL_BSN}0"))
    attacked = signed.replace(f">{EVIL_BSN}0<".encode(), f">{EVIL_BSN}<?x y?>0<".encode())
    _refused(attacked)


# -- 1.4 parser abuse ----------------------------------------------------------------------------


def test_xml_01_external_entity_is_refused_before_parsing(canary: socket.socket) -> None:
    port = canary.getsockname()[1]
    for system in ("file:///etc/passwd", f"http://127.0.0.1:{port}/xxe"):
        body = LEGIT.replace(f">{LEGIT_BSN}<".encode(), b">&x;<")
        attacked = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "{system}">]>'.encode()
        with pytest.raises(MessageError, match="DOCTYPE") as caught:
            read(attacked + body)
        assert "root:" not in str(caught.value)
    _no_connection(canary)
    assert bsn_of(read(LEGIT)) == LEGIT_BSN


def test_xml_02_parameter_entity_and_external_dtd_are_refused(canary: socket.socket) -> None:
    port = canary.getsockname()[1]
    for doctype in (f'<!DOCTYPE r [<!ENTITY % x SYSTEM "http://127.0.0.1:{port}/x"> %x;]>',
                    f'<!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/r.dtd">'):
        _refused(doctype.encode() + LEGIT, "DOCTYPE")
    _no_connection(canary)


def test_xml_03_billion_laughs_is_refused_quickly() -> None:
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    attacked = f"<!DOCTYPE r [{entities}]>".encode() + LEGIT.replace(
        f">{LEGIT_BSN}<".encode(), b">&a9;<")
    started = time.monotonic()
    _refused(attacked, "DOCTYPE")
    assert time.monotonic() - started < 1


def test_xml_04_xinclude_is_not_processed() -> None:
    def include(assertion: etree._Element) -> None:
        name_id = _node(assertion, f".//{SAML}AttributeValue/{SAML}NameID")
        name_id.text = None
        etree.SubElement(name_id, "{http://www.w3.org/2001/XInclude}include",
                         {"href": "file:///etc/passwd", "parse": "text"})

    with pytest.raises(MessageError, match="unexpected content") as caught:
        read(resign_assertion(LEGIT, include))
    assert "root:" not in str(caught.value)


def test_xml_05_oversized_and_deeply_nested_input_is_refused() -> None:
    padding = b"<!--" + b"x" * (300 * 1024) + b"-->"
    _refused(LEGIT.replace(b"</samlp:Response>", padding + b"</samlp:Response>"), "too large")
    deep = b"<a>" * 5000 + b"</a>" * 5000
    _refused(LEGIT.replace(b"</samlp:Response>", deep + b"</samlp:Response>"), "malformed")


def test_xml_07_doctype_in_utf16_is_refused() -> None:
    document = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x "y">]>'
                + LEGIT.decode()).encode("utf-16")
    assert b"<!DOCTYPE" not in document  # the byte-level check cannot see it
    _refused(document, "DOCTYPE|malformed")


def test_xml_07_invalid_encoding_and_nul_bytes_are_refused() -> None:
    _refused(LEGIT.replace(LEGIT_BSN.encode(), b"\xff\xfe99993653"), "malformed")
    _refused(LEGIT.replace(LEGIT_BSN.encode(), b"99999\x003653"), "malformed")


def test_xml_08_external_reference_uri_is_not_dereferenced(canary: socket.socket) -> None:
    port = canary.getsockname()[1]
    root = parse(LEGIT)
    with_evil_bsn(root)
    hand_sign(root, key=IDP_KEY, reference_uri=f"http://127.0.0.1:{port}/signed")
    _refused(serialise(root), "Response")
    _no_connection(canary)


# -- 1.5 protocol checks -------------------------------------------------------------------------


def test_sso_03_unsolicited_response_is_refused() -> None:
    _refused(legit_response(in_response_to=None), "InResponseTo")


def test_sso_04_response_to_another_request_is_refused() -> None:
    _refused(legit_response(in_response_to="_someone_elses_request"), "InResponseTo")


def test_sso_05_subject_confirmation_in_response_to_mismatch_is_refused() -> None:
    def other(assertion: etree._Element) -> None:
        _node(assertion, SUBJECT_DATA).set("InResponseTo", "_other")
    _refused(resign_assertion(LEGIT, other), "SubjectConfirmation InResponseTo")


def test_sso_06_missing_destination_is_refused() -> None:
    def drop(response: etree._Element) -> None:
        del response.attrib["Destination"]
    _refused(resign_response(LEGIT, drop), "Destination")


def test_sso_07_wrong_destination_is_refused() -> None:
    for destination in ("https://other-sp.example/acs", ACS.replace("http:", "https:"),
                        ACS + "/"):
        def wrong(response: etree._Element, value: str = destination) -> None:
            response.set("Destination", value)
        _refused(resign_response(LEGIT, wrong), "Destination")


def test_sso_08_recipient_missing_or_wrong_is_refused() -> None:
    def missing(assertion: etree._Element) -> None:
        del _node(assertion, SUBJECT_DATA).attrib["Recipient"]

    def wrong(assertion: etree._Element) -> None:
        _node(assertion, SUBJECT_DATA).set("Recipient", "https://other-sp.example/acs")

    for mutate in (missing, wrong):
        _refused(resign_assertion(LEGIT, mutate), "Recipient")


def test_sso_09_audience_missing_other_or_not_in_every_restriction_is_refused() -> None:
    def missing(assertion: etree._Element) -> None:
        conditions = _node(assertion, SAML + "Conditions")
        conditions.remove(_node(conditions, SAML + "AudienceRestriction"))

    def other(assertion: etree._Element) -> None:
        _node(assertion, f".//{SAML}Audience").text = "https://other-sp.example"

    def second(assertion: etree._Element) -> None:
        conditions = _node(assertion, SAML + "Conditions")
        extra = etree.SubElement(conditions, SAML + "AudienceRestriction")
        etree.SubElement(extra, SAML + "Audience").text = "https://other-sp.example"

    for mutate in (missing, other, second):
        _refused(resign_assertion(LEGIT, mutate), "Audience")


def test_sso_10_time_window_is_enforced_to_the_second() -> None:
    expiry = NOW + timedelta(seconds=300)  # build_response's lifetime
    assert bsn_of(read(LEGIT, now=expiry + timedelta(seconds=SKEW - 1))) == LEGIT_BSN
    _refused(LEGIT, "expired", now=expiry + timedelta(seconds=SKEW))
    # the Response IssueInstant (NOW) is the binding lower bound: NotBefore is NOW - 30 s
    assert bsn_of(read(LEGIT, now=NOW - timedelta(seconds=SKEW))) == LEGIT_BSN
    _refused(LEGIT, "not yet valid|future", now=NOW - timedelta(seconds=SKEW + 1))


def test_sso_10_subject_confirmation_expiry_alone_is_enforced() -> None:
    def short(assertion: etree._Element) -> None:
        _node(assertion, SUBJECT_DATA).set("NotOnOrAfter", instant(NOW - timedelta(minutes=5)))
    _refused(resign_assertion(LEGIT, short), "expired \\(SubjectConfirmation\\)")


def test_sso_11_issue_instant_far_off_or_malformed_is_refused() -> None:
    for value in (instant(NOW - timedelta(days=2)), instant(NOW + timedelta(days=2)),
                  "yesterday"):
        def issued(response: etree._Element, when: str = value) -> None:
            response.set("IssueInstant", when)
        _refused(resign_response(LEGIT, issued), "IssueInstant|too old")


def test_sso_12_missing_conditions_is_refused() -> None:
    def drop(assertion: etree._Element) -> None:
        assertion.remove(_node(assertion, SAML + "Conditions"))
    _refused(resign_assertion(LEGIT, drop), "no Conditions")


def test_sso_13_failure_status_with_assertion_is_no_login() -> None:
    def failed(response: etree._Element) -> None:
        _node(response, f"{SAMLP}Status/{SAMLP}StatusCode").set(
            "Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")
    with pytest.raises(StatusError):
        read(resign_response(LEGIT, failed))


def test_sso_14_wrong_or_missing_issuer_is_refused() -> None:
    def other_response_issuer(response: etree._Element) -> None:
        _node(response, SAML + "Issuer").text = support.OTHER_IDP

    def no_assertion_issuer(assertion: etree._Element) -> None:
        assertion.remove(_node(assertion, SAML + "Issuer"))

    _refused(resign_response(LEGIT, other_response_issuer), "Issuer")
    _refused(resign_assertion(LEGIT, no_assertion_issuer), "Issuer")


def test_sso_14_signed_response_without_issuer_is_refused() -> None:
    _refused(resign_response(LEGIT, lambda r: r.remove(_node(r, SAML + "Issuer"))), "Issuer")


def test_sso_14_issuer_with_non_entity_format_is_refused() -> None:
    def persistent(assertion: etree._Element) -> None:
        _node(assertion, SAML + "Issuer").set(
            "Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
    _refused(resign_assertion(LEGIT, persistent), "Issuer")


def test_sso_15_no_bearer_or_bearer_with_not_before_is_refused() -> None:
    def holder_of_key(assertion: etree._Element) -> None:
        _node(assertion, f"{SAML}Subject/{SAML}SubjectConfirmation").set(
            "Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")

    def not_before(assertion: etree._Element) -> None:
        _node(assertion, SUBJECT_DATA).set("NotBefore", instant(NOW))

    def invalid_bearer_first(assertion: etree._Element) -> None:
        subject = _node(assertion, SAML + "Subject")
        bad = etree.Element(SAML + "SubjectConfirmation", {"Method": CM_BEARER})
        etree.SubElement(bad, SAML + "SubjectConfirmationData",
                         {"Recipient": "https://other-sp.example/acs"})
        subject.insert(1, bad)

    _refused(resign_assertion(LEGIT, holder_of_key), "bearer")
    _refused(resign_assertion(LEGIT, not_before), "NotBefore")
    _refused(resign_assertion(LEGIT, invalid_bearer_first), "Recipient")


def test_sso_16_missing_authn_statement_or_class_is_refused() -> None:
    def no_statement(assertion: etree._Element) -> None:
        assertion.remove(_node(assertion, SAML + "AuthnStatement"))

    def no_class(assertion: etree._Element) -> None:
        context = _node(assertion, f"{SAML}AuthnStatement/{SAML}AuthnContext")
        context.remove(_node(context, SAML + "AuthnContextClassRef"))

    _refused(resign_assertion(LEGIT, no_statement), "AuthnStatement")
    _refused(resign_assertion(LEGIT, no_class), "AuthnContextClassRef")


def test_sso_18_bad_version_empty_or_duplicate_id_is_refused() -> None:
    _refused(resign_response(LEGIT, lambda r: r.set("Version", "1.1")), "Version")
    root = parse(LEGIT)
    root.set("ID", "")
    _refused(serialise(root), "ID")
    duplicate = parse(LEGIT)
    assertion_id = _node(duplicate, SAML + "Assertion").get("ID", "")
    duplicate.set("ID", assertion_id)  # hand-signed: signxml's signer refuses duplicate IDs
    hand_sign(duplicate, key=IDP_KEY, reference_uri="#" + assertion_id)
    _refused(serialise(duplicate), "Response")


def test_sso_18_assertion_version_not_2_0_is_refused() -> None:
    _refused(resign_assertion(LEGIT, lambda a: a.set("Version", "1.1")), "Version")


def test_sso_20_unknown_condition_is_refused() -> None:
    def unknown(assertion: etree._Element) -> None:
        conditions = _node(assertion, SAML + "Conditions")
        etree.SubElement(conditions, SAML + "Condition",
                         {"{http://www.w3.org/2001/XMLSchema-instance}type": "x:Unknown"},
                         nsmap={"x": "urn:x"})
    _refused(resign_assertion(LEGIT, unknown), "Condition")


def test_sso_20_proxy_restriction_zero_is_refused() -> None:
    def no_proxying(assertion: etree._Element) -> None:
        conditions = _node(assertion, SAML + "Conditions")
        etree.SubElement(conditions, SAML + "ProxyRestriction", {"Count": "0"})
    _refused(resign_assertion(LEGIT, no_proxying), "ProxyRestriction")


def test_sso_21_duplicate_attribute_is_refused() -> None:
    def twice(assertion: etree._Element) -> None:
        statement = _node(assertion, SAML + "AttributeStatement")
        statement.append(etree.fromstring(etree.tostring(_node(statement, SAML + "Attribute"))))
        with_evil_bsn(statement[-1])
    _refused(resign_assertion(LEGIT, twice), "given twice")


def test_sig_01_signature_element_in_unexpected_place_is_ignored_not_trusted() -> None:
    """Guard for the helpers: a Signature only inside Extensions does not sign the Response."""
    root = parse(LEGIT)
    signature = _node(root, DS + "Signature")
    extensions = etree.Element(SAMLP + "Extensions")
    root.replace(signature, extensions)
    extensions.append(signature)
    with_evil_bsn(root)
    _refused(serialise(root), "not signed")
