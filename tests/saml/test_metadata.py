"""Metadata: what we publish verifies; what we read is checked."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from broker import keys
from broker.saml import metadata
from broker.saml.metadata import MetadataError

KEY = keys.generate("md")
OTHER = keys.generate("other")


def test_idp_metadata_is_signed_and_lists_both_bindings() -> None:
    document = metadata.idp_descriptor(entity_id="urn:idp", key=KEY, sso_url="https://b/sso")
    entity = metadata.read(document, trusted=[KEY.certificate])
    assert entity.entity_id == "urn:idp"
    assert entity.sso_location("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect") == "https://b/sso"
    assert entity.valid_until is not None and entity.valid_until > datetime.now(UTC)


def test_metadata_signed_by_another_key_is_refused_when_a_key_is_trusted() -> None:
    document = metadata.idp_descriptor(entity_id="urn:idp", key=OTHER, sso_url="https://b/sso")
    with pytest.raises(MetadataError, match="signature"):
        metadata.read(document, trusted=[KEY.certificate])


def test_expired_metadata_is_refused() -> None:
    document = metadata.sp_descriptor(entity_id="urn:sp", key=KEY, acs_url="https://sp/acs",
                                      valid_for=timedelta(days=1))
    with pytest.raises(MetadataError, match="expired"):
        metadata.read(document, now=datetime.now(UTC) + timedelta(days=2))


def test_sp_metadata_exposes_services_by_index() -> None:
    document = metadata.sp_descriptor(
        entity_id="urn:sp", key=KEY, acs_url="https://sp/acs",
        services=[(3, "Toeslagen", "1373be8a-5091-5838-ac0d-b3234dc1fa5f")])
    entity = metadata.read(document)
    (service,) = entity.attribute_consuming_services
    assert service.index == 3
    assert service.requested["urn:nl-eid-gdi:1.0:ServiceUUID"] == (
        "1373be8a-5091-5838-ac0d-b3234dc1fa5f",)
    assert entity.default_acs().location == "https://sp/acs"


@pytest.mark.parametrize("document", [
    b"not xml",
    b"<x/>",
    b'<!DOCTYPE x><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>',
    b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="e"/>',
])
def test_unusable_metadata_is_refused_with_a_reason(document: bytes) -> None:
    with pytest.raises(MetadataError):
        metadata.read(document)
