"""The OIDC frontend's HTTP endpoints: discovery, JWKS, authorize, token, userinfo."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import redirect
from flask import request
from flask.blueprints import BlueprintSetupState

from broker import loa
from broker.frontends.oidc import authorize
from broker.frontends.oidc import claims
from broker.frontends.oidc import tokens
from broker.frontends.oidc.keys import ALGORITHMS
from broker.identity import Identity
from broker.web import continuations
from broker.web import input_guard
from broker.web.answers import Answer
from broker.web.answers import answer_unmatched
from broker.web.answers import answers_in
from broker.web.runtime import runtime

if TYPE_CHECKING:
    from broker.frontends.oidc import OidcFrontend

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def create_blueprint(frontend: OidcFrontend) -> Blueprint:
    """Routes at fixed paths (/.well-known/openid-configuration, /oidc/*) for ``frontend``."""
    bp = Blueprint(frontend.name, __name__)
    context = frontend.context
    bp.record_once(_json_where_no_route_matches)

    @bp.get("/.well-known/openid-configuration")
    @answers_in(Answer.OAUTH)
    def discovery() -> Response:
        return jsonify(discovery_document(frontend))

    @bp.get("/oidc/jwks")
    @answers_in(Answer.OAUTH)
    def jwks() -> Response:
        return jsonify(frontend.keys.jwks())

    @bp.route("/oidc/authorize", methods=["GET", "POST"])
    def authorization() -> Any:
        params = request.form if request.method == "POST" else request.args
        try:
            valid = authorize.validate(
                params, find_client=frontend.find_client, catalogue=context.catalogue,
                connectors=lambda: set(runtime().connectors))
        except authorize.AuthorizationError as refusal:
            return redirect(authorize.error_uri(refusal.redirect_uri, refusal.error,
                                                refusal.description, refusal.state,
                                                issuer=frontend.issuer), 303)
        return continuations.begin(
            frontend=frontend.name, requester=valid.client.client_id,
            requester_name=valid.client.display_name, service=valid.service,
            min_loa=valid.min_loa, return_to=valid.redirect_uri,
            request_data=valid.request_data(), upstream_hint=valid.idp_hint,
            force_authn=valid.force_authn, max_age=valid.max_age)

    @bp.post("/oidc/token")
    @answers_in(Answer.OAUTH)
    def token() -> Response:
        if request.headers.get("Authorization") and "client_secret" in request.form:
            return _token_error("invalid_request", "use one client authentication method")
        input_guard.refuse_unreadable_credentials()  # authlib would fail on them
        return frontend.server.create_token_response()  # type: ignore[no-any-return]

    @bp.route("/oidc/userinfo", methods=["GET", "POST"])
    @answers_in(Answer.BEARER)
    def userinfo() -> Response:
        grant = _bearer_grant(context.store)
        client = frontend.find_client(grant.client_id) if grant is not None else None
        if grant is None or client is None:
            return _unauthorized()
        body = claims.identity_claims(
            Identity.from_dict(grant.identity), frontend.server.audience(client),
            issuer=frontend.issuer, service_uuid=grant.service)
        response = jsonify(body)
        response.headers.update(_NO_STORE)
        return response

    return bp


def _json_where_no_route_matches(state: BlueprintSetupState) -> None:
    """Clients of these paths read JSON, also the 404 of a path no route matches."""
    for prefix in ("/.well-known/", "/oidc/"):
        answer_unmatched(state.app, prefix, Answer.OAUTH)


def discovery_document(frontend: OidcFrontend) -> dict[str, Any]:
    url = frontend.context.url
    return {
        "issuer": frontend.issuer,
        "authorization_endpoint": url("/oidc/authorize"),
        "token_endpoint": url("/oidc/token"),
        "userinfo_endpoint": url("/oidc/userinfo"),
        "jwks_uri": url("/oidc/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise", "public"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "acr_values_supported": list(loa.EIDAS_URI.values()),
        "scopes_supported": ["openid",
                             *(service.scope for service in frontend.context.catalogue())],
        "claims_supported": list(claims.CLAIMS_SUPPORTED),
        "sub_id_types_supported": list(claims.SUB_ID_TYPES),
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
    }


def _bearer_grant(store: Any) -> tokens.AccessGrant | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return tokens.find_access_token(store, value.strip())


def _token_error(error: str, description: str) -> Response:
    """A token-endpoint refusal before authlib sees the request (RFC 6749 5.2)."""
    response = jsonify(error=error, error_description=description)
    response.status_code = 400
    response.headers.update(_NO_STORE)
    return response


def _unauthorized() -> Response:
    response = jsonify(error="invalid_token")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response
