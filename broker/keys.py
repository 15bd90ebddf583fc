"""Signing keys: generated on first start in the instance folder, never in git.

A :class:`KeyPair` is parsed once and reused: parsing a PEM key costs tens of milliseconds, so
it must never happen per request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class KeyPair:
    """A private key with its self-signed certificate, both parsed."""

    name: str
    private_key: CertificateIssuerPrivateKeyTypes
    certificate: x509.Certificate

    @cached_property
    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @cached_property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @cached_property
    def certificate_b64(self) -> str:
        """The DER certificate in base64, as ds:X509Certificate carries it."""
        import base64

        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()


def load_or_create(directory: Path, name: str, *, algorithm: str = "rsa",
                   common_name: str | None = None) -> KeyPair:
    """Load ``<name>.key``/``<name>.crt`` from ``directory``, generating them the first time."""
    key_file = directory / f"{name}.key"
    cert_file = directory / f"{name}.crt"
    if key_file.exists() and cert_file.exists():
        private_key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
        return KeyPair(name, private_key, certificate)  # type: ignore[arg-type]
    pair = generate(name, algorithm=algorithm, common_name=common_name or name)
    directory.mkdir(parents=True, exist_ok=True)
    _write_private(key_file, pair.private_pem)
    cert_file.write_bytes(pair.certificate_pem)
    return pair


def generate(name: str, *, algorithm: str = "rsa", common_name: str = "broker") -> KeyPair:
    private_key: CertificateIssuerPrivateKeyTypes
    if algorithm == "rsa":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ec":
        private_key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unknown key algorithm {algorithm!r}")
    return KeyPair(name, private_key, _self_signed(private_key, common_name))


def _self_signed(private_key: CertificateIssuerPrivateKeyTypes, common_name: str) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(private_key, hashes.SHA256())
    )


def _write_private(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
