"""The SAML IdP frontend: relying parties log in through the broker with SAML 2.0 Web SSO.

Routes: ``GET /saml/idp/metadata`` (signed IdP metadata) and ``/saml/idp/sso`` (HTTP-Redirect
and HTTP-POST). Answers are signed Responses (Response and Assertion) over HTTP-POST, only to
an AssertionConsumerService listed in the registered SP's metadata.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from flask import Blueprint
from flask import Response
from flask import make_response
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as WerkzeugResponse

from broker.context import BrokerContext
from broker.context import Continuation
from broker.errors import BrokerError
from broker.errors import RequestError
from broker.flow import Flow
from broker.frontends.saml_idp import attributes
from broker.frontends.saml_idp import providers
from broker.frontends.saml_idp import sso
from broker.identity import Identity
from broker.keys import KeyPair
from broker.saml import bindings
from broker.saml import messages
from broker.saml import metadata
from broker.web import answers
from broker.web import continuations
from broker.web import failures
from broker.web.runtime import runtime

log = logging.getLogger(__name__)

METADATA_PATH = "/saml/idp/metadata"
SSO_PATH = "/saml/idp/sso"
METADATA_CONTENT_TYPE = "application/samlmetadata+xml"
#: how long a signed metadata document is reused before it is signed afresh
METADATA_REUSE_SECONDS = 3600


class SamlIdpFrontend:
    """A SAML 2.0 identity provider for registered service providers."""

    def __init__(self, *, name: str, context: BrokerContext) -> None:
        self.name = name
        self.context = context
        self.entity_id = context.url(METADATA_PATH)
        self.sso_url = context.url(SSO_PATH)
        self._metadata: tuple[float, bytes] | None = None
        self.blueprint = Blueprint(f"saml_idp_{name}", __name__)
        self.blueprint.add_url_rule(METADATA_PATH, "metadata", self.metadata_view,
                                    methods=["GET"])
        self.blueprint.add_url_rule(SSO_PATH, "sso", self.sso_view, methods=["GET", "POST"])

    @property
    def key(self) -> KeyPair:
        return self.context.key("saml-idp")

    # -- metadata --------------------------------------------------------------------------

    def metadata_xml(self) -> bytes:
        """Our signed metadata (with validUntil), re-signed at most once an hour."""
        now = time.monotonic()
        if self._metadata is None or now - self._metadata[0] > METADATA_REUSE_SECONDS:
            document = metadata.idp_descriptor(entity_id=self.entity_id, key=self.key,
                                               sso_url=self.sso_url)
            self._metadata = (now, document)
        return self._metadata[1]

    def metadata_view(self) -> Response:
        return Response(self.metadata_xml(), mimetype=METADATA_CONTENT_TYPE)

    # -- single sign-on --------------------------------------------------------------------

    def sso_view(self) -> Any:
        """Receive the AuthnRequest; once its ACS is validated, every refusal but a replay
        (and a part of the broker that is down) is answered there with a signed Response."""
        now = self.context.clock()
        skew = self.context.settings.clock_skew_seconds
        received = sso.receive(
            method=request.method, query_string=request.query_string.decode("latin-1"),
            form=request.form, find_provider=self._find_provider, now=now, skew=skew)
        sso.check_destination(received.request, self.sso_url)
        acs_url = sso.choose_acs(received.request, received.provider)
        try:
            with failures.raised_as_broker_errors():
                first_use = self._first_use(received.request)
        except BrokerError as refusal:
            return self._answer_early(refusal, acs_url, received)
        if not first_use:  # no answer to the ACS: the first use of this ID was answered
            raise RequestError("AuthnRequest ID already used (replay)")
        return self._begin(received, acs_url)

    def _begin(self, received: sso.Received, acs_url: str) -> Any:
        """Answer a passive request at once; else start a flow for the service asked for."""
        authn, provider = received.request, received.provider
        if authn.is_passive:  # no session to answer from: NoPassive at once, no login page
            passive = sso.PassiveRequestError("IsPassive request")
            log.info("passive AuthnRequest from %s answered with NoPassive", provider.entity_id)
            return continuations.render_continuation(self._error_continuation(
                passive, acs_url, authn.id, received.relay_state))
        try:
            with failures.raised_as_broker_errors():
                service = sso.choose_service(authn, provider, self.context.catalogue())
            level = sso.requested_level(authn)
        except BrokerError as refusal:
            return self._answer_early(refusal, acs_url, received)
        return continuations.begin(
            frontend=self.name, requester=provider.entity_id,
            requester_name=_requester_name(provider, authn), service=service,
            min_loa=level or service.min_loa, return_to=acs_url,
            request_data={"request_id": authn.id, "relay_state": received.relay_state,
                          "acs_url": acs_url, "sp": provider.entity_id},
            upstream_hint=sso.upstream_hint(authn, runtime().connectors),
            force_authn=authn.force_authn)

    def _find_provider(self, entity_id: str) -> providers.RegisteredProvider | None:
        return providers.find(self.context.session(), entity_id, self.context.config)

    def _first_use(self, authn: messages.AuthnRequest) -> bool:
        """Mark the AuthnRequest ID used; False when it was already (a replay)."""
        ttl = 2 * (self.context.settings.clock_skew_seconds + 300)
        key = f"saml-idp-request:{authn.issuer}:{authn.id}"
        return self.context.store.add(key, {}, ttl)

    def _answer_early(self, error: BrokerError, acs_url: str,
                      received: sso.Received) -> WerkzeugResponse:
        """An error Response to the validated ACS before any flow exists, behind a page."""
        error_id = secrets.token_hex(6)
        log.warning("error %s: %s: %s (no flow)", error_id, type(error).__name__, error.detail)
        continuation = self._error_continuation(error, acs_url, received.request.id,
                                                received.relay_state)
        page = render_template("error.html", error=error, error_id=error_id,
                               continuation=continuation, flow=None)
        return answers.add_retry_after(make_response(page, error.http_status), error)

    # -- answers ---------------------------------------------------------------------------

    def respond(self, identity: Identity, flow: Flow) -> Continuation:
        """A signed Response (signed Assertion) carrying ``identity`` to the flow's ACS."""
        data = flow.request
        service = self.context.catalogue().get(flow.service)
        content = messages.AssertionContent(
            name_id=messages.new_id(),
            authn_context=attributes.authn_context(service, identity.loa),
            authn_instant=identity.authn_instant,
            session_index=messages.new_id(),
            authenticating_authorities=(identity.upstream_issuer,)
            if identity.upstream_issuer else (),
            attributes=attributes.for_service(service, identity),
        )
        document = messages.build_response(
            issuer=self.entity_id, destination=data["acs_url"],
            in_response_to=data["request_id"], audience=data["sp"], content=content,
            key=self.key, now=self.context.clock())
        return _post(data["acs_url"], document, data.get("relay_state"))

    def respond_error(self, error: BrokerError, flow: Flow) -> Continuation:
        """A signed error Response (the error's SAML status) to the flow's validated ACS."""
        data = flow.request
        return self._error_continuation(error, data["acs_url"], data["request_id"],
                                        data.get("relay_state"))

    def _error_continuation(self, error: BrokerError, acs_url: str, request_id: str,
                            relay_state: str | None) -> Continuation:
        code, sub_code = error.saml_status
        document = messages.build_error_response(
            issuer=self.entity_id, destination=acs_url, in_response_to=request_id, code=code,
            sub_code=sub_code, message=error.public_message_en, key=self.key,
            now=self.context.clock())
        return _post(acs_url, document, relay_state)


def _post(acs_url: str, document: bytes, relay_state: str | None) -> Continuation:
    fields = {"SAMLResponse": bindings.encode_post(document)}
    if relay_state is not None:
        fields["RelayState"] = relay_state
    return Continuation("POST", acs_url, fields)


def _requester_name(provider: providers.RegisteredProvider, authn: messages.AuthnRequest) -> str:
    index = authn.attribute_consuming_service_index
    for consuming in provider.metadata.attribute_consuming_services:
        if consuming.index == index and consuming.name:
            return consuming.name
    return provider.entity_id
