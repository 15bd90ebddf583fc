"""Receiving an AuthnRequest: decode, find the SP, check its signature, pick the return address,
then read what it asks for (service, level, upstream).

Everything before :func:`choose_acs` succeeds raises a :class:`RequestError` for an error page:
no answer goes to an address the SP's metadata does not list. What comes after (service,
level) raises errors the frontend answers with an error Response to the validated ACS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from broker import loa
from broker.components import SamlUpstream
from broker.errors import SAML_NO_AUTHN_CONTEXT
from broker.errors import SAML_REQUEST_UNSUPPORTED
from broker.errors import SAML_REQUESTER
from broker.errors import SAML_RESPONDER
from broker.errors import RequestError
from broker.errors import UnknownRequesterError
from broker.errors import UnknownServiceError
from broker.frontends.saml_idp.providers import RegisteredProvider
from broker.saml import bindings
from broker.saml import names
from broker.saml import signing
from broker.saml.messages import AuthnRequest
from broker.saml.messages import MessageError
from broker.saml.messages import read_authn_request
from broker.saml.xml import BINDING_POST
from broker.saml.xml import DS
from broker.saml.xml import XmlError
from broker.saml.xml import parse
from broker.saml.xml import tostring
from broker.services import Service
from broker.services import ServiceCatalogue
from broker.text import Bilingual

ST_SERVICE_UUID = names.ST_SERVICE_UUID
SAML_NO_PASSIVE = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"


class UnsupportedAuthnContextError(RequestError):
    """The RequestedAuthnContext names no level we know, or a comparison we cannot honour."""

    saml_status = (SAML_REQUESTER, SAML_NO_AUTHN_CONTEXT)  # type: ignore[assignment]
    public_message = Bilingual(
        "De dienst vroeg om een betrouwbaarheidsniveau dat wij niet kennen.",
        "The service asked for a level of assurance we do not know.")


class PassiveRequestError(RequestError):
    """IsPassive: the broker keeps no session, so it can never answer without a login."""

    saml_status: tuple[str, str | None] = (SAML_RESPONDER, SAML_NO_PASSIVE)
    public_message = Bilingual(
        "De dienst vroeg om inloggen zonder dat u iets hoeft te doen; dat kan niet.",
        "The service asked for a login without any action from you; that is not possible.")


@dataclass(frozen=True, slots=True)
class Received:
    """A decoded AuthnRequest whose signature (if any, or if required) verified."""

    request: AuthnRequest
    provider: RegisteredProvider
    relay_state: str | None


def receive(*, method: str, query_string: str, form: Mapping[str, str],
            find_provider: Any, now: datetime, skew: int) -> Received:
    """Decode and authenticate the AuthnRequest of this HTTP request.

    ``find_provider(entity_id)`` returns the registered SP or None.
    """
    try:
        if method == "GET":
            document, relay_state = bindings.decode_redirect(query_string, "SAMLRequest", None)
        else:
            document, relay_state = bindings.decode_post(form.get("SAMLRequest")), form.get(
                "RelayState")
        unverified = read_authn_request(document, now=now, skew=skew)
    except (bindings.BindingError, MessageError) as exc:
        raise RequestError(f"unreadable AuthnRequest: {exc}") from None
    provider: RegisteredProvider | None = find_provider(unverified.issuer)
    if provider is None:
        raise UnknownRequesterError(f"AuthnRequest from unregistered SP {unverified.issuer!r}")
    if method == "GET":
        document = _verified_redirect(query_string, provider)
    else:
        document = _verified_post(document, provider)
    try:
        request = read_authn_request(document, now=now, skew=skew)
    except MessageError as exc:
        raise RequestError(f"unreadable AuthnRequest: {exc}") from None
    return Received(request, provider, relay_state)


def _verified_redirect(query_string: str, provider: RegisteredProvider) -> bytes:
    signed = "Signature" in bindings.form_fields(query_string)
    if not (signed or provider.metadata.authn_requests_signed):
        document, _ = bindings.decode_redirect(query_string, "SAMLRequest", None)
        return document
    try:
        document, _ = bindings.decode_redirect(query_string, "SAMLRequest",
                                               provider.metadata.signing_certificates)
    except bindings.BindingError as exc:
        raise RequestError(f"AuthnRequest signature refused: {exc}") from None
    return document


def _verified_post(document: bytes, provider: RegisteredProvider) -> bytes:
    try:
        root = parse(document)
    except XmlError as exc:
        raise RequestError(f"unreadable AuthnRequest: {exc}") from None
    if root.find(DS + "Signature") is None:
        if provider.metadata.authn_requests_signed:
            raise RequestError("AuthnRequest must be signed but is not")
        return document
    try:
        return tostring(signing.verify(root, provider.metadata.signing_certificates))
    except signing.SignatureError as exc:
        raise RequestError(f"AuthnRequest signature refused: {exc}") from None


def check_destination(request: AuthnRequest, sso_url: str) -> None:
    if request.destination is not None and request.destination != sso_url:
        raise RequestError("AuthnRequest Destination is not our SSO URL")


def choose_acs(request: AuthnRequest, provider: RegisteredProvider) -> str:
    """The HTTP-POST AssertionConsumerService URL of the SP's metadata to answer to."""
    if request.protocol_binding not in (None, BINDING_POST):
        raise RequestError("only the HTTP-POST binding is supported for the Response")
    posts = [e for e in provider.metadata.acs_endpoints if e.binding == BINDING_POST]
    if request.acs_url is not None and request.acs_index is not None:
        raise RequestError("AssertionConsumerServiceURL and Index both given")
    if request.acs_url is not None:
        if any(e.location == request.acs_url for e in posts):
            return request.acs_url
        raise RequestError("AssertionConsumerServiceURL is not in the SP's metadata")
    if request.acs_index is not None:
        chosen = next((e for e in posts if e.index == request.acs_index), None)
        if chosen is None:
            raise RequestError("AssertionConsumerServiceIndex is not in the SP's metadata")
        return chosen.location
    default = provider.metadata.default_acs()
    if default is None:
        raise RequestError("SP metadata has no HTTP-POST AssertionConsumerService")
    return default.location


def choose_service(request: AuthnRequest, provider: RegisteredProvider,
                   catalogue: ServiceCatalogue) -> Service:
    """The service asked for: by AttributeConsumingServiceIndex, ST-SAML ServiceUUID extension,
    or the SP's default. It must be one the SP was registered for."""
    index = request.attribute_consuming_service_index
    extension = request.extension_attributes.get(ST_SERVICE_UUID, ())
    if index is not None:
        uuid = provider.services_by_index.get(index)
        if uuid is None:
            raise UnknownServiceError(f"AttributeConsumingServiceIndex {index} not registered")
    elif extension:
        if len(extension) != 1:
            raise UnknownServiceError("more than one ServiceUUID in the Extensions")
        uuid = extension[0].strip().lower()
    elif provider.default_service is not None:
        uuid = provider.default_service
    else:
        raise UnknownServiceError("no service asked and the SP has no default service")
    allowed = set(provider.services_by_index.values()) | {provider.default_service}
    if uuid not in allowed:
        raise UnknownServiceError(f"SP is not registered for service {uuid}")
    return catalogue.get(uuid)


def requested_level(request: AuthnRequest) -> str | None:
    """The lowest level the RequestedAuthnContext accepts (None when it asks nothing)."""
    if not request.requested_contexts:
        return None
    if request.comparison not in ("minimum", "exact"):
        error = UnsupportedAuthnContextError(f"Comparison {request.comparison!r} unsupported")
        error.saml_status = (SAML_REQUESTER, SAML_REQUEST_UNSUPPORTED)
        raise error
    levels = [level for uri in request.requested_contexts if (level := loa.from_uri(uri))]
    if not levels:
        raise UnsupportedAuthnContextError("no known AuthnContextClassRef requested")
    return min(levels, key=loa.rank)


def upstream_hint(request: AuthnRequest, connectors: Mapping[str, Any]) -> str | None:
    """The connector named by Scoping/IDPList (its name or its upstream IdP entity id)."""
    for provider_id in request.idp_list:
        for name, connector in connectors.items():
            if provider_id == name or (isinstance(connector, SamlUpstream)
                                       and provider_id == connector.idp_entity_id):
                return name
    return None
