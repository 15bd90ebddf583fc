"""A generic SAML 2.0 service-provider connector: log in at any SAML IdP (DigiD via ST-SAML,
or any IdP whose metadata we are given).

The IdP's metadata is read once, at start-up; only its certificates verify answers. The
AuthnRequest goes out over HTTP-Redirect, signed; the answer comes back over HTTP-POST and is
verified in full by :func:`broker.saml.messages.read_response`, then checked against the
replay cache and mapped to an :class:`~broker.identity.Identity`.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests
from flask import Blueprint
from flask import make_response
from flask import redirect
from flask import request
from werkzeug.wrappers import Response

from broker import identifiers
from broker import loa
from broker.context import BrokerContext
from broker.errors import SAML_AUTHN_FAILED
from broker.errors import SAML_NO_AUTHN_CONTEXT
from broker.errors import BrokerError
from broker.errors import InsufficientLoaError
from broker.errors import UpstreamCancelledError
from broker.errors import UpstreamError
from broker.errors import UpstreamResponseError
from broker.flow import Flow
from broker.identity import Identity
from broker.identity import Party
from broker.saml import bindings
from broker.saml import messages
from broker.saml import metadata as saml_metadata
from broker.saml import names
from broker.saml.xml import BINDING_REDIRECT

log = logging.getLogger(__name__)

ACTING_SUBJECT_ID = names.ST_ACTING_SUBJECT_ID
LEGACY_BSN = names.ST_LEGACY_BSN
SERVICE_UUID = names.ST_SERVICE_UUID
#: Classic DigiD NameID: sector code for BSN, a colon, the BSN.
CLASSIC_BSN_PREFIX = "s00000000:"
METADATA_TIMEOUT = 10
#: Regenerate our signed SP metadata when less than this is left of its validity.
_METADATA_REFRESH = timedelta(days=1)
_METADATA_VALIDITY = timedelta(days=7)


class SamlConnector:
    """Connects the broker, as a SAML SP, to one SAML identity provider."""

    is_mock: bool = False
    #: the RequestedAttribute name of the ServiceUUID in our AttributeConsumingServices
    service_attribute: str = SERVICE_UUID

    def __init__(self, *, name: str, context: BrokerContext, label: str, via: str = "digid",
                 metadata: str | None = None, idp_entity_id: str | None = None,
                 sign_requests: bool = True) -> None:
        self.name, self.context, self.label, self.via = name, context, label, via
        self.sign_requests = sign_requests
        self.idp = saml_metadata.read(self._idp_metadata(metadata), now=context.clock())
        if idp_entity_id is not None and idp_entity_id != self.idp.entity_id:
            raise ValueError(f"idp_entity_id {idp_entity_id!r} is not the metadata's entityID "
                             f"{self.idp.entity_id!r}")
        sso = self.idp.sso_location(BINDING_REDIRECT)
        if sso is None:
            raise ValueError(f"{self.idp.entity_id} has no HTTP-Redirect SingleSignOnService")
        self.sso_url = sso
        self.entity_id = context.url(f"/connect/{name}/metadata")
        self.acs_url = context.url(f"/connect/{name}/acs")
        self._sp_metadata: tuple[bytes, datetime, tuple[tuple[int, str, str], ...]] | None = None
        self.blueprint = self._blueprint()

    @property
    def idp_entity_id(self) -> str:
        """The entityID of the identity provider this connector is a service provider of."""
        return str(self.idp.entity_id)

    # -- metadata ----------------------------------------------------------------------------

    def _idp_metadata(self, source: str | None) -> bytes:
        """The IdP's metadata document from a file path or an http(s) URL."""
        if not source:
            raise ValueError("metadata: a file path or URL of the IdP's metadata is required")
        if source.startswith(("https://", "http://")):
            return _fetch(source)
        return Path(source).read_bytes()

    def sp_metadata(self) -> bytes:
        """Our signed SP metadata (kept and re-signed a day before it would expire, or at once
        when the services it lists change)."""
        now = self.context.clock()
        services = self.consuming_services()
        if (self._sp_metadata is None or self._sp_metadata[1] - now < _METADATA_REFRESH
                or self._sp_metadata[2] != services):
            document = saml_metadata.sp_descriptor(
                entity_id=self.entity_id, key=self.context.key(f"connector-{self.name}"),
                acs_url=self.acs_url, valid_for=_METADATA_VALIDITY, services=services,
                service_attribute=self.service_attribute)
            self._sp_metadata = (document, now + _METADATA_VALIDITY, services)
        return self._sp_metadata[0]

    def consuming_services(self) -> tuple[tuple[int, str, str], ...]:
        """(index, name, ServiceUUID) of the AttributeConsumingServices our metadata lists;
        none here (DigiD names the service otherwise), subclasses add them."""
        return ()

    def requested_contexts(self, flow: Flow) -> list[str]:
        """The AuthnContextClassRefs asked for (Comparison minimum)."""
        return [loa.EIDAS_URI[flow.min_loa]]

    def consuming_service_index(self, flow: Flow) -> int | None:
        """The AttributeConsumingServiceIndex that names the flow's service, if any."""
        return None

    # -- the login ---------------------------------------------------------------------------

    def start(self, flow: Flow) -> Response:
        """Send the browser to the IdP with a signed AuthnRequest asking at least flow.min_loa
        (and ForceAuthn when the relying party demanded a fresh authentication)."""
        request_id, document = messages.build_authn_request(
            issuer=self.entity_id, destination=self.sso_url, acs_url=self.acs_url,
            requested_contexts=self.requested_contexts(flow), comparison="minimum",
            attribute_consuming_service_index=self.consuming_service_index(flow),
            force_authn=flow.force_authn, now=self.context.clock())
        key = self.context.key(f"connector-{self.name}") if self.sign_requests else None
        url = bindings.redirect_url(self.sso_url, "SAMLRequest", document, None, key)
        self.context.flows.upstream_started(flow, self.name, request_id)
        return redirect(url, 303)

    def acs(self) -> Response:
        """The IdP's answer: find the flow, verify everything, then (and only then) record the
        identity, using up the request id and marking the assertion in the same step. A
        message that fails verification changes nothing: the person's login stays open for the
        genuine answer."""
        try:
            document = bindings.decode_post(request.form.get("SAMLResponse"))
        except bindings.BindingError as exc:
            raise UpstreamResponseError(f"{self.name}: {exc}") from None
        flow = self.context.flows.awaiting_upstream(self.name, messages.in_response_to_of(document))
        verified = self._verify(document, flow)
        login = self.context.login
        with login.claimed(flow):  # a genuine answer: from here on errors go to the relying party
            self._require_fresh(flow, verified)
            response: Response = login.authenticated(flow, self.identity_for(flow, verified),
                                                     mark=self._replay_mark(verified))
        return response

    def _verify(self, document: bytes, flow: Flow) -> messages.VerifiedAssertion:
        assert flow.upstream_request_id is not None
        try:
            return messages.read_response(
                document, idp_entity_id=self.idp.entity_id,
                certificates=self.idp.signing_certificates, acs_url=self.acs_url,
                audience=self.entity_id, in_response_to=flow.upstream_request_id,
                now=self.context.clock(), skew=self.context.settings.clock_skew_seconds)
        except messages.StatusError as exc:  # signed by the IdP: a genuine answer to the flow
            raise self.status_error(exc).in_flow(flow) from None
        except messages.MessageError as exc:
            raise UpstreamResponseError(f"{self.name}: {exc}") from None

    def _replay_mark(self, verified: messages.VerifiedAssertion) -> tuple[str, int]:
        """The assertion's replay mark (key, seconds): kept until it could no longer verify."""
        skew = self.context.settings.clock_skew_seconds
        ttl = int((verified.not_on_or_after - self.context.clock()).total_seconds()) + skew + 1
        return f"saml-assertion:{verified.issuer}:{verified.assertion_id}", max(ttl, 1)

    def _require_fresh(self, flow: Flow, verified: messages.VerifiedAssertion) -> None:
        """When the flow demanded a fresh authentication, the IdP must have authenticated the
        person during this flow (not from an earlier session), and within max_age."""
        if not flow.force_authn:
            return
        skew = self.context.settings.clock_skew_seconds
        if verified.authn_instant < flow.started_at() - timedelta(seconds=skew):
            raise _stale(f"{self.name}: AuthnInstant before the flow began, despite ForceAuthn")
        age = (self.context.clock() - verified.authn_instant).total_seconds()
        if flow.max_age is not None and age > flow.max_age + skew:
            raise _stale(f"{self.name}: AuthnInstant older than max_age {flow.max_age}s")

    def status_error(self, error: messages.StatusError) -> BrokerError:
        """The broker error for a verified failure status from the IdP."""
        return _status_error(self.name, error)

    def identity_for(self, flow: Flow, verified: messages.VerifiedAssertion) -> Identity:
        """The identity for ``flow``; subclasses may check the assertion against the flow."""
        return self.identity(verified)

    def identity(self, verified: messages.VerifiedAssertion) -> Identity:
        """The person the verified assertion names, at its level; BSN checked (11-test)."""
        level = loa.from_uri(verified.authn_context)
        if level is None:
            raise UpstreamResponseError(f"{self.name}: unknown AuthnContextClassRef")
        attributes = {SERVICE_UUID: verified.attributes[SERVICE_UUID]} if (
            SERVICE_UUID in verified.attributes) else {}
        return Identity(
            acting=Party(id=self._bsn(verified), id_type="bsn"), loa=level,
            connector=self.name, authn_instant=verified.authn_instant,
            upstream_issuer=verified.issuer, attributes=attributes)

    def _bsn(self, verified: messages.VerifiedAssertion) -> str:
        candidates = [value.split("|", 1)[1] for value in verified.attributes.get(
            ACTING_SUBJECT_ID, ()) if value.startswith(LEGACY_BSN + "|")]
        if not candidates and verified.name_id.startswith(CLASSIC_BSN_PREFIX):
            candidates = [verified.name_id[len(CLASSIC_BSN_PREFIX):]]
        if len(candidates) != 1:
            raise UpstreamResponseError(f"{self.name}: assertion names no single BSN")
        if not identifiers.is_bsn(candidates[0]):
            raise UpstreamResponseError(f"{self.name}: acting subject is not a valid BSN")
        return candidates[0]

    def _blueprint(self) -> Blueprint:
        bp = Blueprint(f"connector_{self.name}", __name__)
        bp.add_url_rule("/acs", "acs", self.acs, methods=["POST"])
        bp.add_url_rule("/metadata", "metadata", self._metadata_view, methods=["GET"])
        return bp

    def _metadata_view(self) -> Response:
        response = make_response(self.sp_metadata())
        response.mimetype = "application/samlmetadata+xml"
        return response


def _stale(detail: str) -> UpstreamResponseError:
    return UpstreamResponseError(
        detail,
        public_nl="Het inlogmiddel heeft u niet opnieuw laten inloggen, terwijl de dienst daarom "
                  "vroeg. Probeer het opnieuw.",
        public_en="The login service did not ask you to log in again, although the service "
                  "required it. Please try again.")


def _status_error(name: str, error: messages.StatusError) -> BrokerError:
    if error.sub_code == SAML_AUTHN_FAILED:
        return UpstreamCancelledError(f"{name}: IdP reports AuthnFailed")
    if error.sub_code == SAML_NO_AUTHN_CONTEXT:
        return InsufficientLoaError(f"{name}: IdP reports NoAuthnContext")
    return UpstreamError(f"{name}: IdP reports {error.code} / {error.sub_code}")


def _fetch(url: str) -> bytes:
    """Metadata over https, or http only from a loopback host (a local test IdP)."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        raise ValueError("metadata: plain http is only allowed from a loopback host")
    response = requests.get(url, timeout=METADATA_TIMEOUT)
    response.raise_for_status()
    return response.content


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
