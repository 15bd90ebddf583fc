"""The OpenID Connect frontend (OIDC NL GOV profile): relying parties log in through it.

Authorization code flow only, PKCE S256 and a nonce required for every client, confidential
clients only. See :mod:`.authorize` (the request), :mod:`.server` (token endpoint on authlib),
:mod:`.claims` (what the tokens say), :mod:`.clients`, :mod:`.keys`, :mod:`.tokens`,
:mod:`.views`.

Config: ``[frontends.<name>] type = "oidc"``, optional ``signing_alg = "RS256" | "ES256"``.
"""

from __future__ import annotations

from flask import Blueprint

from broker.context import BrokerContext
from broker.context import Continuation
from broker.errors import BrokerError
from broker.flow import Flow
from broker.frontends.oidc import tokens
from broker.frontends.oidc.authorize import error_uri
from broker.frontends.oidc.authorize import response_uri
from broker.frontends.oidc.claims import acr
from broker.frontends.oidc.clients import RegisteredClient
from broker.frontends.oidc.clients import find_client
from broker.frontends.oidc.clients import register_client
from broker.frontends.oidc.keys import ALGORITHMS
from broker.frontends.oidc.keys import SigningKeys
from broker.frontends.oidc.keys import pairwise_secret
from broker.frontends.oidc.server import OidcServer
from broker.frontends.oidc.views import create_blueprint
from broker.identity import Identity

__all__ = ["OidcFrontend", "register_client"]


class OidcFrontend:
    """The frontend the core calls: its blueprint, and the answers to a finished flow."""

    def __init__(self, *, name: str, context: BrokerContext, signing_alg: str = "RS256") -> None:
        if signing_alg not in ALGORITHMS:
            raise ValueError(f"signing_alg must be one of {', '.join(ALGORITHMS)}")
        self.name = name
        self.context = context
        self.issuer = context.settings.base_url
        self.keys = SigningKeys.from_context(context)
        self.server = OidcServer(
            store=context.store, keys=self.keys, issuer=self.issuer, alg=signing_alg,
            pairwise_secret=pairwise_secret(context.settings.instance_path),
            query_client=self.find_client, clock=context.clock)
        self.blueprint: Blueprint = create_blueprint(self)

    def find_client(self, client_id: str) -> RegisteredClient | None:
        return find_client(self.context.session(), client_id, self.context.config)

    def respond(self, identity: Identity, flow: Flow) -> Continuation:
        """Issue a one-time code for ``identity`` and send the browser to the redirect_uri."""
        data = flow.request
        code = tokens.issue_code(
            self.context.store, client_id=data["client_id"], redirect_uri=data["redirect_uri"],
            code_challenge=data["code_challenge"], scope=data["scope"], nonce=data["nonce"],
            identity=identity.to_dict(), service=flow.service, acr=acr(identity),
            auth_time=int(identity.authn_instant.timestamp()))
        return Continuation("GET", response_uri(data["redirect_uri"], [("code", code)],
                                                state=data.get("state"), issuer=self.issuer))

    def respond_error(self, error: BrokerError, flow: Flow) -> Continuation:
        """The OAuth error redirect to the flow's (validated) redirect_uri."""
        data = flow.request
        return Continuation("GET", error_uri(data["redirect_uri"], error.oidc_error,
                                             error.public_message_en, data.get("state"),
                                             issuer=self.issuer))
