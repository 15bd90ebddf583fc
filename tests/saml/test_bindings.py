"""HTTP-Redirect binding: deflate/base64 round trip and query-string signatures."""

from urllib.parse import urlsplit

import pytest

from broker import keys
from broker.saml.bindings import BindingError
from broker.saml.bindings import decode_post
from broker.saml.bindings import decode_redirect
from broker.saml.bindings import encode_post
from broker.saml.bindings import redirect_url

KEY = keys.generate("sp")
OTHER = keys.generate("other")
DOC = b"<samlp:AuthnRequest xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol' ID='_1'/>"


def _query(key: keys.KeyPair | None, relay_state: str | None = "state 1") -> str:
    return urlsplit(redirect_url("https://idp/sso", "SAMLRequest", DOC, relay_state, key)).query


def test_signed_redirect_round_trips() -> None:
    assert decode_redirect(_query(KEY), "SAMLRequest", [KEY.certificate]) == (DOC, "state 1")


def test_unsigned_redirect_is_accepted_only_when_no_signature_is_required() -> None:
    assert decode_redirect(_query(None), "SAMLRequest", None)[0] == DOC
    with pytest.raises(BindingError, match="must be signed"):
        decode_redirect(_query(None), "SAMLRequest", [KEY.certificate])


def test_redirect_signed_by_another_key_is_refused() -> None:
    with pytest.raises(BindingError, match="trusted key"):
        decode_redirect(_query(OTHER), "SAMLRequest", [KEY.certificate])


def test_changed_relay_state_breaks_the_signature() -> None:
    query = _query(KEY).replace("RelayState=state+1", "RelayState=state+2")
    with pytest.raises(BindingError):
        decode_redirect(query, "SAMLRequest", [KEY.certificate])


def test_repeated_parameter_is_refused() -> None:
    with pytest.raises(BindingError, match="twice"):
        decode_redirect(_query(None) + "&RelayState=x", "SAMLRequest", None)


def test_garbage_is_a_binding_error() -> None:
    with pytest.raises(BindingError):
        decode_redirect("SAMLRequest=%%%", "SAMLRequest", None)
    with pytest.raises(BindingError):
        decode_post("not base64!")
    with pytest.raises(BindingError):
        decode_post(None)


def test_post_round_trips() -> None:
    assert decode_post(encode_post(DOC)) == DOC


def test_post_accepts_base64_in_76_character_lines() -> None:
    encoded = encode_post(DOC * 3)
    wrapped = "\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    assert decode_post(wrapped) == DOC * 3
