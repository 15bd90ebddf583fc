"""The IdP metadata: signed by the frontend's key, time-limited, naming our SSO endpoint."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

from broker.frontends.saml_idp import SamlIdpFrontend
from broker.saml import metadata
from broker.saml import signing
from broker.saml.xml import BINDING_POST
from broker.saml.xml import BINDING_REDIRECT
from broker.saml.xml import parse


def test_metadata_is_signed_and_verifies_with_idp_key(client: Any, idp: SamlIdpFrontend) -> None:
    response = client.get("/saml/idp/metadata")
    assert response.status_code == 200
    assert response.mimetype == "application/samlmetadata+xml"
    root = signing.verify(parse(response.data), [idp.key.certificate])
    assert root.get("entityID") == "http://localhost/saml/idp/metadata"


def test_metadata_has_future_valid_until_and_both_sso_bindings(
        client: Any, idp: SamlIdpFrontend) -> None:
    read = metadata.read(client.get("/saml/idp/metadata").data, trusted=[idp.key.certificate])
    assert read.valid_until is not None and read.valid_until > datetime.now(UTC)
    assert read.sso_location(BINDING_REDIRECT) == "http://localhost/saml/idp/sso"
    assert read.sso_location(BINDING_POST) == "http://localhost/saml/idp/sso"


def test_tampered_metadata_does_not_verify(client: Any, idp: SamlIdpFrontend) -> None:
    document = client.get("/saml/idp/metadata").data.replace(
        b"http://localhost/saml/idp/sso", b"http://evil.example/saml/idp/sso")
    try:
        signing.verify(parse(document), [idp.key.certificate])
    except signing.SignatureError:
        return
    raise AssertionError("tampered metadata verified")
