"""A pysaml2 crypto backend on :mod:`broker.saml.signing` (signxml), so that a real pysaml2
service provider works without the xmlsec1 binary.

pysaml2 keeps its own checks (schema, one Reference to the enclosing element's ID, allowed
transforms, certificates only from metadata); this backend replaces only the cryptography:
it finds the node pysaml2 names (node_name + node_id) and verifies its enveloped signature
with the one certificate pysaml2 passes, through :func:`broker.saml.signing.verify`
(RSA/ECDSA-SHA256 or stronger, exclusive c14n). Encryption is not supported.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.sigver import CryptoBackend
from saml2.sigver import RSACrypto

from broker.keys import KeyPair
from broker.saml import signing
from broker.saml.xml import DS
from broker.saml.xml import XmlError
from broker.saml.xml import parse
from broker.saml.xml import tostring


class SignxmlBackend(CryptoBackend):  # type: ignore[misc]
    """Signs and verifies enveloped XML signatures in process; no encryption.

    ``key`` is the signing key, parsed once by the caller; without it signing is refused.
    """

    def __init__(self, key: KeyPair | None = None) -> None:
        super().__init__()
        self._key = key
        self._certificates: dict[bytes, x509.Certificate] = {}

    @property
    def version(self) -> str:
        return "1.0.0"

    def sign_statement(self, statement: str | bytes, node_name: str, key_file: str,
                       node_id: str | None) -> str:
        """``statement`` with the node ``node_name``/``node_id`` signed (template replaced)."""
        root = _parse(statement)
        node = _find(root, node_name, node_id)
        if node is None:
            raise ValueError(f"no {node_name} with ID {node_id} to sign")
        for template in node.findall(DS + "Signature"):
            node.remove(template)
        if self._key is None:
            raise ValueError("this backend has no signing key")
        key = self._key
        if node is root:
            return tostring(signing.sign(node, key)).decode()
        parent = node.getparent()
        assert parent is not None
        signed = signing.sign(copy.deepcopy(node), key)
        parent.replace(node, signed)
        return tostring(root).decode()

    def validate_signature(self, signedtext: str | bytes, cert_file: str, cert_type: str,
                           node_name: str, node_id: str | None) -> bool:
        """True when the node ``node_name``/``node_id`` is signed by the certificate in
        ``cert_file`` (a PEM file pysaml2 wrote from the sender's metadata)."""
        if cert_type != "pem":
            return False
        try:
            root = _parse(signedtext)
        except XmlError:
            return False
        node = _find(root, node_name, node_id)
        if node is None:
            return False
        try:
            signing.verify(node, [self._certificate(cert_file)])
        except (signing.SignatureError, ValueError):
            return False
        return True

    def encrypt(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("encryption is not supported by the signxml backend")

    def encrypt_assertion(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("encryption is not supported by the signxml backend")

    def decrypt(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("decryption is not supported by the signxml backend")

    def _certificate(self, cert_file: str) -> x509.Certificate:
        pem = Path(cert_file).read_bytes()
        if pem not in self._certificates:
            self._certificates[pem] = x509.load_pem_x509_certificate(pem)
        return self._certificates[pem]


def make_saml2_client(config: dict[str, Any], key: KeyPair | None = None) -> Saml2Client:
    """A pysaml2 ``Saml2Client`` for ``config`` that needs no xmlsec1 binary.

    The config's crypto_backend is forced to "XMLSecurity" (which builds without a binary);
    then the XML crypto is swapped for :class:`SignxmlBackend` and the Redirect-binding
    signer gets the key (``key``, or the config's key_file and cert_file parsed once here).
    """
    sp_config = SPConfig()
    sp_config.load({**config, "crypto_backend": "XMLSecurity"})
    client = Saml2Client(config=sp_config)
    if key is None and config.get("key_file") and config.get("cert_file"):
        key = _key_from_files(str(config["key_file"]), str(config["cert_file"]))
    client.sec.crypto = SignxmlBackend(key)
    if key is not None:
        client.sec.sec_backend = RSACrypto(key.private_key)
    return client


def _parse(text: str | bytes) -> etree._Element:
    return parse(text.encode() if isinstance(text, str) else text)


def _find(root: etree._Element, node_name: str, node_id: str | None) -> etree._Element | None:
    """The one element named ``node_name`` ("<namespace>:<local name>") with ID ``node_id``."""
    namespace, _, local = node_name.rpartition(":")
    tag = "{%s}%s" % (namespace, local)
    if node_id is None:
        return root if root.tag == tag else None
    matches = [node for node in root.iter(tag) if node.get("ID") == node_id]
    return matches[0] if len(matches) == 1 else None


def _key_from_files(key_file: str, cert_file: str) -> KeyPair:
    private = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    certificate = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    return KeyPair(Path(key_file).stem, private, certificate)  # type: ignore[arg-type]
