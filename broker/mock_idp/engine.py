"""What every mock SAML identity provider shares: receive and check an AuthnRequest, keep it
under a single-use ticket while the person logs in, and answer the service provider.

Nothing here is specific to DigiD: a mock eHerkenning reuses it with its own
:class:`MockIdpSpec`, login page and assertion content. Every refusal before the SP's return
address is validated raises a :class:`~broker.errors.BrokerError` (a page, never a response to
an unvalidated URL).
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp

from broker import loa
from broker.context import BrokerContext
from broker.context import Continuation
from broker.errors import SAML_RESPONDER
from broker.errors import RequestError
from broker.errors import UnknownRequesterError
from broker.saml import bindings
from broker.saml import messages
from broker.saml import metadata
from broker.saml import names
from broker.saml import signing
from broker.saml.mock_idps import MockIdpSpec
from broker.saml.xml import BINDING_POST
from broker.saml.xml import SAMLP
from broker.saml.xml import XmlError
from broker.saml.xml import parse
from broker.saml.xml import text_of
from broker.saml.xml import tostring

log = logging.getLogger(__name__)

#: How long a person may take to log in at a mock IdP.
TICKET_TTL = 15 * 60
#: Wrong logins allowed per ticket; the last one removes the ticket.
MAX_ATTEMPTS = 5
SERVICE_UUID = names.ST_SERVICE_UUID
ETD_SERVICE_UUID = names.ETD_SERVICE_UUID
#: The names under which an SP may name its service (ST-SAML, eTD).
SERVICE_UUID_NAMES = (SERVICE_UUID, ETD_SERVICE_UUID)

ServiceProviders = Callable[[], list[bytes]]


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingRequest:
    """A checked AuthnRequest waiting for the person to log in (kept in the state store)."""

    sp: str
    request_id: str
    acs_url: str
    relay_state: str | None
    requested: tuple[str, ...]
    comparison: str
    service_uuid: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingRequest:
        known = {key: value for key, value in data.items() if key in _PENDING_FIELDS}
        return cls(**{**known, "requested": tuple(data["requested"])})


_PENDING_FIELDS = frozenset(PendingRequest.__dataclass_fields__)


def trusted_sps(service_providers: ServiceProviders) -> dict[str, metadata.EntityMetadata]:
    """The SPs this IdP answers, by entity id; unreadable metadata is logged and skipped."""
    trusted: dict[str, metadata.EntityMetadata] = {}
    for document in service_providers():
        try:
            entity = metadata.read(document)
        except metadata.MetadataError as exc:
            log.warning("mock IdP skips unreadable SP metadata: %s", exc)
            continue
        trusted[entity.entity_id] = entity
    return trusted


def receive_redirect(context: BrokerContext, spec: MockIdpSpec,
                     sps: Mapping[str, metadata.EntityMetadata],
                     query_string: str) -> PendingRequest:
    """Check a Redirect-binding AuthnRequest; its query-string signature must verify with
    the certificates of the SP that its Issuer names."""
    try:
        unverified, _ = bindings.decode_redirect(query_string, "SAMLRequest", None)
        sp = _sp(sps, _issuer_of(unverified))
        document, relay_state = bindings.decode_redirect(
            query_string, "SAMLRequest", sp.signing_certificates)
    except bindings.BindingError as exc:
        raise RequestError(f"mock {spec.idp}: {exc}") from None
    return _checked(context, spec, sp, document, relay_state)


def receive_post(context: BrokerContext, spec: MockIdpSpec,
                 sps: Mapping[str, metadata.EntityMetadata],
                 form: Mapping[str, str]) -> PendingRequest:
    """Check a POST-binding AuthnRequest; it must carry an enveloped signature by its SP."""
    try:
        document = bindings.decode_post(form.get("SAMLRequest"))
        root = parse(document)
    except (bindings.BindingError, XmlError) as exc:
        raise RequestError(f"mock {spec.idp}: {exc}") from None
    sp = _sp(sps, _issuer_of(document))
    try:
        signed = signing.verify(root, sp.signing_certificates)
    except signing.SignatureError as exc:
        raise RequestError(f"mock {spec.idp}: AuthnRequest {exc}") from None
    return _checked(context, spec, sp, tostring(signed), form.get("RelayState"))


def open_ticket(context: BrokerContext, spec: MockIdpSpec, pending: PendingRequest) -> str:
    ticket = secrets.token_urlsafe(24)
    context.store.put(_ticket_key(spec, ticket), pending.to_dict(), TICKET_TTL)
    return ticket


def pending_of(context: BrokerContext, spec: MockIdpSpec, ticket: str) -> PendingRequest | None:
    data = context.store.get(_ticket_key(spec, ticket)) if _plausible(ticket) else None
    return PendingRequest.from_dict(data) if data is not None else None


def take_ticket(context: BrokerContext, spec: MockIdpSpec, ticket: str) -> PendingRequest | None:
    """Consume the ticket: of two concurrent callers only one gets the pending request."""
    data = context.store.take(_ticket_key(spec, ticket)) if _plausible(ticket) else None
    return PendingRequest.from_dict(data) if data is not None else None


def record_failure(context: BrokerContext, spec: MockIdpSpec, ticket: str) -> int:
    """Count a wrong login at this ticket (one atomic increment, so wrong logins sent at the
    same moment are each counted); returns the attempts left (0: the ticket is gone)."""
    attempts = context.store.incr(_attempts_key(spec, ticket), TICKET_TTL)
    if attempts >= MAX_ATTEMPTS:
        context.store.delete(_ticket_key(spec, ticket))
        return 0
    return MAX_ATTEMPTS - attempts


def attempts_left(context: BrokerContext, spec: MockIdpSpec, ticket: str) -> int:
    """Wrong logins this ticket still allows."""
    return max(MAX_ATTEMPTS - context.store.count(_attempts_key(spec, ticket)), 0)


def satisfies(pending: PendingRequest, level: str) -> bool:
    """Whether an account at ``level`` meets the RequestedAuthnContext (no request: yes)."""
    if not pending.requested:
        return True
    known = [rank for rank in (_rank(uri) for uri in pending.requested) if rank is not None]
    if not known:
        return False
    mine = loa.rank(level)
    if pending.comparison == "exact":
        return mine in known
    if pending.comparison == "better":
        return mine > min(known)
    if pending.comparison == "maximum":
        return mine <= max(known)
    return mine >= min(known)


def answer(context: BrokerContext, spec: MockIdpSpec, pending: PendingRequest,
           content: messages.AssertionContent) -> Continuation:
    """A signed Response with one signed Assertion, posted to the SP's checked ACS."""
    document = messages.build_response(
        issuer=spec.entity_id, destination=pending.acs_url, in_response_to=pending.request_id,
        audience=pending.sp, content=content, key=context.key(spec.key_name),
        now=context.clock())
    return _post(pending, document)


def answer_error(context: BrokerContext, spec: MockIdpSpec, pending: PendingRequest,
                 sub_code: str, message: str | None) -> Continuation:
    """A signed failure Response (top-level status Responder) to the SP's checked ACS."""
    document = messages.build_error_response(
        issuer=spec.entity_id, destination=pending.acs_url, in_response_to=pending.request_id,
        code=SAML_RESPONDER, sub_code=sub_code, message=message,
        key=context.key(spec.key_name), now=context.clock())
    return _post(pending, document)


def _post(pending: PendingRequest, document: bytes) -> Continuation:
    fields = {"SAMLResponse": bindings.encode_post(document)}
    if pending.relay_state:
        fields["RelayState"] = pending.relay_state
    return Continuation("POST", pending.acs_url, fields)


def _checked(context: BrokerContext, spec: MockIdpSpec, sp: metadata.EntityMetadata,
             document: bytes, relay_state: str | None) -> PendingRequest:
    try:
        request = messages.read_authn_request(document, now=context.clock(),
                                              skew=context.settings.clock_skew_seconds)
    except (messages.MessageError, XmlError) as exc:
        raise RequestError(f"mock {spec.idp}: {exc}") from None
    if request.issuer != sp.entity_id:
        raise UnknownRequesterError(f"mock {spec.idp}: Issuer changed between reads")
    if request.destination != spec.sso_url(context):
        raise RequestError(f"mock {spec.idp}: AuthnRequest Destination is not our SSO URL")
    if relay_state is not None and len(relay_state) > 80:
        raise RequestError(f"mock {spec.idp}: RelayState longer than 80 bytes")
    return PendingRequest(
        sp=sp.entity_id, request_id=request.id, acs_url=_acs_url(spec, sp, request),
        relay_state=relay_state, requested=request.requested_contexts,
        comparison=request.comparison, service_uuid=_service_uuid(spec, sp, request))


def _acs_url(spec: MockIdpSpec, sp: metadata.EntityMetadata,
             request: messages.AuthnRequest) -> str:
    posts = [e for e in sp.acs_endpoints if e.binding == BINDING_POST]
    if request.acs_url is not None:
        if request.acs_url not in [e.location for e in posts]:
            raise RequestError(f"mock {spec.idp}: AssertionConsumerServiceURL is not in the "
                               "SP's metadata")
        return request.acs_url
    if request.acs_index is not None:
        chosen = next((e for e in posts if e.index == request.acs_index), None)
    else:
        chosen = sp.default_acs()
    if chosen is None:
        raise RequestError(f"mock {spec.idp}: no HTTP-POST ACS in the SP's metadata")
    return chosen.location


def _service_uuid(spec: MockIdpSpec, sp: metadata.EntityMetadata,
                  request: messages.AuthnRequest) -> str | None:
    named = next((request.extension_attributes[name] for name in SERVICE_UUID_NAMES
                  if request.extension_attributes.get(name)), None)
    if named:
        return named[0]
    index = request.attribute_consuming_service_index
    if index is None:
        return None
    service = next((s for s in sp.attribute_consuming_services if s.index == index), None)
    if service is None:
        raise RequestError(f"mock {spec.idp}: unknown AttributeConsumingServiceIndex")
    values = next((service.requested[name] for name in SERVICE_UUID_NAMES
                   if service.requested.get(name)), ())
    return values[0] if values else None


def _sp(sps: Mapping[str, metadata.EntityMetadata], issuer: str) -> metadata.EntityMetadata:
    sp = sps.get(issuer)
    if sp is None:
        raise UnknownRequesterError("mock IdP: AuthnRequest from an unknown service provider")
    return sp


def _issuer_of(document: bytes) -> str:
    """The unverified Issuer, only to pick the keys that must then verify the request."""
    try:
        root = parse(document)
        issuer = text_of(root.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer"))
    except XmlError as exc:
        raise RequestError(f"mock IdP: {exc}") from None
    if root.tag != SAMLP + "AuthnRequest" or not issuer:
        raise RequestError("mock IdP: not an AuthnRequest with an Issuer")
    return issuer


def _rank(uri: str) -> int | None:
    level = loa.from_uri(uri)
    return loa.rank(level) if level is not None else None


def _ticket_key(spec: MockIdpSpec, ticket: str) -> str:
    return f"mock-idp:{spec.idp}:{ticket}"


def _attempts_key(spec: MockIdpSpec, ticket: str) -> str:
    return f"mock-idp-attempts:{spec.idp}:{ticket}"


def _plausible(ticket: str) -> bool:
    return 20 <= len(ticket) <= 64 and ticket.replace("-", "").replace("_", "").isalnum()


# -- second factor ---------------------------------------------------------------------------


class _DemoTotp(pyotp.TOTP):  # type: ignore[misc]
    """pyotp's TOTP (RFC 6238, HMAC-SHA-1, 6 digits, 30 s) without its 112-bit minimum.

    pyotp >= 2.10 refuses secrets under 112 bits; the demo world publishes an 80-bit one
    (JBSWY3DPEHPK3PXP) that testers type into their authenticator apps. Only the mock identity
    providers use this class; the broker's own accounts get full-length secrets.
    """

    def byte_secret(self) -> bytes:
        return base64.b32decode(self.secret + "=" * (-len(self.secret) % 8), casefold=True)


def totp(secret: str, moment: datetime) -> str:
    """The code of ``secret`` at ``moment``."""
    return str(_DemoTotp(secret).at(moment))


def totp_matches(secret: str, code: str, moment: datetime, *, valid_window: int = 1) -> bool:
    """Whether ``code`` is the code of ``moment`` or of up to ``valid_window`` steps around it."""
    if len(code) != 6 or not code.isdigit():
        return False
    return bool(_DemoTotp(secret).verify(code, for_time=moment, valid_window=valid_window))
