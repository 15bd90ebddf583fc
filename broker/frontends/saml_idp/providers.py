"""SAML service providers: registered by their metadata, looked up per request.

Registration checks everything once and refuses with a message for the administrator
(Dutch, then English); nothing is stored unless every check passes. Lookups parse the stored
metadata at most once per process per version (keyed by entity id and a hash of the stored
registration: XML, default service and index mapping).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path

import requests
from lxml import etree
from sqlalchemy.orm import Session

from broker.config_cache import UNCACHED
from broker.config_cache import ConfigCache
from broker.db import ServiceProvider
from broker.errors import InputError
from broker.errors import UnknownServiceError
from broker.saml import metadata
from broker.saml import names
from broker.saml.messages import MessageError
from broker.saml.messages import parse_instant
from broker.saml.metadata import EntityMetadata
from broker.saml.xml import BINDING_POST
from broker.saml.xml import DS
from broker.saml.xml import MD
from broker.saml.xml import NS
from broker.saml.xml import XmlError
from broker.saml.xml import parse
from broker.services import ServiceCatalogue
from broker.text import Bilingual

#: RequestedAttribute names whose value is the ServiceUUID an AttributeConsumingService means
SERVICE_UUID_ATTRIBUTES = names.SERVICE_UUID_NAMES
FETCH_TIMEOUT_SECONDS = 10
MAX_METADATA_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RegisteredProvider:
    """A registered SP with its parsed metadata and service mapping."""

    entity_id: str
    metadata: EntityMetadata
    default_service: str | None
    services_by_index: dict[int, str]


_CACHE: dict[tuple[str, str], RegisteredProvider] = {}


def register_service_provider(session: Session, *, metadata: bytes, service: str | None,
                              catalogue: ServiceCatalogue) -> ServiceProvider:
    """Check ``metadata`` and store the SP (replacing an earlier registration of it).

    ``service`` is the ServiceUUID used when a request names none; without it the SP's only
    AttributeConsumingService is the default.
    """
    parsed = _checked_metadata(metadata)
    by_index = _services_by_index(parsed, catalogue)
    default = _default_service(service, by_index, catalogue)
    row = session.get(ServiceProvider, parsed.entity_id)
    if row is None:
        row = ServiceProvider(entity_id=parsed.entity_id)
        session.add(row)
    row.metadata_xml = metadata.decode("utf-8")
    row.default_service = default
    row.services_by_index = {str(index): uuid for index, uuid in by_index.items()}
    session.commit()
    return row


def find(session: Session, entity_id: str,
         cache: ConfigCache = UNCACHED) -> RegisteredProvider | None:
    """The registered SP ``entity_id``, or None (also when its metadata has expired); read
    through ``cache``."""
    provider = cache.get(("saml-sp", entity_id), lambda: _read(session, entity_id))
    if provider is None:
        return None
    valid_until = provider.metadata.valid_until
    if valid_until is not None and valid_until <= datetime.now(UTC):
        return None
    return provider


def _read(session: Session, entity_id: str) -> RegisteredProvider | None:
    """The SP as registered, its metadata parsed once per version of its row."""
    row = session.get(ServiceProvider, entity_id)
    if row is None:
        return None
    services = {int(k): v for k, v in (row.services_by_index or {}).items()}
    digest = hashlib.sha256(json.dumps(
        [row.metadata_xml, row.default_service, sorted(services.items())]).encode()).hexdigest()
    cached = _CACHE.get((entity_id, digest))
    if cached is None:
        try:
            parsed = metadata.read(row.metadata_xml.encode())
        except metadata.MetadataError:
            return None
        cached = RegisteredProvider(entity_id=entity_id, metadata=parsed,
                                    default_service=row.default_service,
                                    services_by_index=services)
        for stale in [key for key in _CACHE if key[0] == entity_id]:
            del _CACHE[stale]
        _CACHE[(entity_id, digest)] = cached
    return cached


def load_metadata(file_or_url: str) -> bytes:
    """The metadata document at a file path or an http(s) URL (10 s timeout)."""
    if file_or_url.startswith(("http://", "https://")):
        try:
            reply = requests.get(file_or_url, timeout=FETCH_TIMEOUT_SECONDS)
            reply.raise_for_status()
        except requests.RequestException as exc:
            raise InputError(_both(
                f"De metadata kon niet worden opgehaald van {file_or_url}",
                f"The metadata could not be fetched from {file_or_url}: {exc}")) from None
        content = reply.content
    else:
        try:
            content = Path(file_or_url).read_bytes()
        except OSError as exc:
            raise InputError(_both(
                f"Het metadatabestand {file_or_url} kon niet worden gelezen",
                f"The metadata file {file_or_url} could not be read: {exc.strerror}")) from None
    if len(content) > MAX_METADATA_BYTES:
        raise InputError(_both("De metadata is te groot", "The metadata is too large"))
    return content


# -- checks ----------------------------------------------------------------------------------


def _checked_metadata(document: bytes) -> EntityMetadata:
    try:
        root = parse(document)
    except XmlError as exc:
        raise InputError(_both("De metadata is geen leesbare of veilige XML",
                               f"The metadata is not readable or safe XML ({exc})")) from None
    if root.tag != MD + "EntityDescriptor":
        raise InputError(_both("Dit is geen SAML EntityDescriptor",
                               "This is not a SAML EntityDescriptor"))
    role = _sp_role(root)
    if role is None:
        raise InputError(_both("De metadata beschrijft geen service provider (SPSSODescriptor)",
                               "The metadata does not describe a service provider "
                               "(SPSSODescriptor)"))
    _check_valid_until(root)
    if not _has_signing_certificate(role):
        raise InputError(_both("De metadata bevat geen ondertekeningscertificaat",
                               "The metadata holds no signing certificate"))
    try:
        parsed = metadata.read(document)
    except metadata.MetadataError as exc:
        raise InputError(_both("De metadata is onbruikbaar",
                               f"The metadata is unusable: {exc}")) from None
    if not any(e.binding == BINDING_POST for e in parsed.acs_endpoints):
        raise InputError(_both("De metadata heeft geen AssertionConsumerService met HTTP-POST",
                               "The metadata has no AssertionConsumerService with HTTP-POST"))
    return parsed


def _sp_role(root: etree._Element) -> etree._Element | None:
    for role in root.findall(MD + "SPSSODescriptor"):
        if NS["samlp"] in (role.get("protocolSupportEnumeration") or "").split():
            return role
    return None


def _check_valid_until(root: etree._Element) -> None:
    value = root.get("validUntil")
    if not value:
        return
    try:
        valid_until = parse_instant(value, "validUntil")
    except MessageError:
        raise InputError(_both("validUntil in de metadata is geen geldig tijdstip",
                               "validUntil in the metadata is not a valid instant")) from None
    if valid_until <= datetime.now(UTC):
        raise InputError(_both(f"De metadata is verlopen (validUntil {value})",
                               f"The metadata has expired (validUntil {value})"))


def _has_signing_certificate(role: etree._Element) -> bool:
    return any(
        descriptor.get("use", "signing") == "signing"
        and descriptor.find(f".//{DS}X509Certificate") is not None
        for descriptor in role.findall(MD + "KeyDescriptor"))


def _services_by_index(parsed: EntityMetadata, catalogue: ServiceCatalogue) -> dict[int, str]:
    by_index: dict[int, str] = {}
    for consuming in parsed.attribute_consuming_services:
        uuids = [value for name in SERVICE_UUID_ATTRIBUTES
                 for value in consuming.requested.get(name, ())]
        if not uuids:
            continue
        _require_in_catalogue(uuids[0], catalogue, f"AttributeConsumingService {consuming.index}")
        by_index[consuming.index] = uuids[0].lower()
    return by_index


def _default_service(service: str | None, by_index: dict[int, str],
                     catalogue: ServiceCatalogue) -> str:
    if service is not None:
        _require_in_catalogue(service, catalogue, "--service")
        return service.lower()
    if len(by_index) == 1:
        return next(iter(by_index.values()))
    raise InputError(_both(
        "Geen dienst: geef --service op, of zet precies één AttributeConsumingService met een "
        "ServiceUUID in de metadata",
        "No service: give --service, or put exactly one AttributeConsumingService with a "
        "ServiceUUID in the metadata"))


def _require_in_catalogue(uuid: str, catalogue: ServiceCatalogue, where: str) -> None:
    try:
        catalogue.get(uuid)
    except UnknownServiceError:
        raise InputError(_both(f"{where}: dienst {uuid} staat niet in de dienstencatalogus",
                               f"{where}: service {uuid} is not in the service catalogue")
                         ) from None


def _both(dutch: str, english: str) -> Bilingual:
    return Bilingual(f"{dutch}.", f"{english}.")
