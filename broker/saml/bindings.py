"""The SAML HTTP-Redirect and HTTP-POST bindings (SAML 2.0 Bindings, sections 3.4 and 3.5).

Redirect-binding signatures cover the exact query string octets as sent, so verification works
on the raw query string, never on re-encoded parameters.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Sequence
from urllib.parse import parse_qsl
from urllib.parse import quote_plus
from urllib.parse import unquote_plus

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

from broker.keys import KeyPair
from broker.saml.xml import MAX_MESSAGE_BYTES

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"


class BindingError(ValueError):
    """The message cannot be decoded, or its binding-level signature is missing or wrong."""


def redirect_url(endpoint: str, param: str, document: bytes, relay_state: str | None,
                 key: KeyPair | None) -> str:
    """The URL that carries ``document`` (deflated, base64) as ``param`` to ``endpoint``."""
    deflated = zlib.compress(document)[2:-4]
    parts = [f"{param}={quote_plus(base64.b64encode(deflated).decode())}"]
    if relay_state is not None:
        parts.append(f"RelayState={quote_plus(relay_state)}")
    if key is not None:
        is_ec = isinstance(key.private_key, ec.EllipticCurvePrivateKey)
        parts.append(f"SigAlg={quote_plus(ECDSA_SHA256 if is_ec else RSA_SHA256)}")
        signature = _sign("&".join(parts).encode(), key)
        parts.append(f"Signature={quote_plus(base64.b64encode(signature).decode())}")
    separator = "&" if "?" in endpoint else "?"
    return endpoint + separator + "&".join(parts)


def decode_redirect(query_string: str, param: str,
                    certificates: Sequence[x509.Certificate] | None) -> tuple[bytes, str | None]:
    """Decode a Redirect-binding message; verify its signature when ``certificates`` is given.

    Returns the XML document and the RelayState. ``certificates=None`` means the sender need
    not sign; an empty sequence means it must, but no key is trusted (always refused).
    """
    raw = _raw_params(query_string)
    if param not in raw:
        raise BindingError(f"no {param} in the query string")
    values = {name: unquote_plus(value) for name, value in raw.items()}
    if certificates is not None:
        _verify_query(raw, values, param, certificates)
    try:
        deflated = strict_b64decode(values[param])
        decompressor = zlib.decompressobj(-15)
        document = decompressor.decompress(deflated, MAX_MESSAGE_BYTES)
    except (binascii.Error, zlib.error, ValueError):
        raise BindingError(f"{param} is not deflated base64") from None
    if decompressor.unconsumed_tail:
        raise BindingError(f"{param} is too large")
    return document, values.get("RelayState")


def decode_post(value: str | None) -> bytes:
    """The XML document carried base64-encoded in an HTTP-POST form field."""
    if not value:
        raise BindingError("no SAML message in the form")
    if len(value) > MAX_MESSAGE_BYTES * 4 // 3 + 4:
        raise BindingError("SAML message too large")
    try:
        return strict_b64decode(value)
    except (binascii.Error, ValueError):
        raise BindingError("SAML message is not base64") from None


def strict_b64decode(value: str) -> bytes:
    """Canonical base64 only: the standard alphabet, exact padding, nothing that decodes to the
    same bytes in two spellings (catalogue XML-09). Line breaks and spaces are not data (some
    IdPs send 76-character MIME lines) and are removed first."""
    text = "".join(value.split())
    decoded = base64.b64decode(text, validate=True)
    if base64.b64encode(decoded).decode() != text:
        raise ValueError("not canonical base64")
    return decoded


def encode_post(document: bytes) -> str:
    return base64.b64encode(document).decode()


def _raw_params(query_string: str) -> dict[str, str]:
    raw: dict[str, str] = {}
    for pair in query_string.split("&"):
        name, _, value = pair.partition("=")
        if name in raw:
            raise BindingError(f"parameter {name} given twice")
        raw[name] = value
    return raw


def _verify_query(raw: dict[str, str], values: dict[str, str], param: str,
                  certificates: Sequence[x509.Certificate]) -> None:
    if "Signature" not in raw or "SigAlg" not in raw:
        raise BindingError("the message must be signed but is not")
    if values["SigAlg"] not in (RSA_SHA256, ECDSA_SHA256):
        raise BindingError("signature algorithm not allowed")
    order = [param] + [name for name in ("RelayState", "SigAlg") if name in raw]
    signed = "&".join(f"{name}={raw[name]}" for name in order).encode()
    try:
        signature = base64.b64decode(values["Signature"], validate=True)
    except (binascii.Error, ValueError):
        raise BindingError("signature is not base64") from None
    for certificate in certificates:
        if _verify(certificate, signature, signed, values["SigAlg"]):
            return
    raise BindingError("signature not valid with any trusted key")


def _sign(data: bytes, key: KeyPair) -> bytes:
    private = key.private_key
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return private.sign(data, ec.ECDSA(hashes.SHA256()))
    assert isinstance(private, rsa.RSAPrivateKey)
    return private.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _verify(certificate: x509.Certificate, signature: bytes, data: bytes, alg: str) -> bool:
    public = certificate.public_key()
    try:
        if alg == ECDSA_SHA256 and isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif alg == RSA_SHA256 and isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def form_fields(query_string: str) -> dict[str, str]:
    """Decoded query parameters (for reading RelayState etc. of an unsigned message)."""
    return dict(parse_qsl(query_string, keep_blank_values=True))
