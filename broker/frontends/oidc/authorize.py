"""Validation of the authorization request, in the order that decides how errors are answered.

First the client and its redirect_uri (exact match). Until both are known good, every problem
raises a :class:`~broker.errors.BrokerError` (an error page, never a redirect to an unchecked
address). After that, problems raise :class:`AuthorizationError`, which the view sends back to
the redirect_uri in the protocol's own form (error, error_description, state).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authlib.common.urls import add_params_to_uri
from werkzeug.datastructures import MultiDict

from broker import loa
from broker.errors import RequestError
from broker.errors import UnknownRequesterError
from broker.errors import UnknownServiceError
from broker.frontends.oidc.clients import RegisteredClient
from broker.services import Service
from broker.services import ServiceCatalogue

_CODE_CHALLENGE = re.compile(r"^[A-Za-z0-9._~-]{43,128}\Z")
_MAX_AGE = re.compile(r"[0-9]+")
_SINGLE = ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
           "code_challenge", "code_challenge_method", "acr_values", "idp_hint", "prompt",
           "max_age")
#: The prompt values of OIDC Core 3.1.2.1; any other value is refused (invalid_request), as
#: the relying party could not tell that it was ignored.
PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})
MAX_PARAMETER_LENGTH = 2048


class AuthorizationError(Exception):
    """A refusal to send back to the (validated) redirect_uri."""

    def __init__(self, error: str, description: str, *, redirect_uri: str,
                 state: str | None) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description
        self.redirect_uri, self.state = redirect_uri, state


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizationRequest:
    """A fully validated authorization request."""

    client: RegisteredClient
    redirect_uri: str
    state: str | None
    nonce: str
    scope: str
    code_challenge: str
    service: Service
    min_loa: str
    idp_hint: str | None
    force_authn: bool = False  #: prompt=login or max_age: a fresh upstream authentication
    max_age: int | None = None  #: seconds the upstream authentication may be old at most

    def request_data(self) -> dict[str, Any]:
        """What the flow keeps to answer later (JSON-serialisable)."""
        return {"client_id": self.client.client_id, "redirect_uri": self.redirect_uri,
                "state": self.state, "nonce": self.nonce, "scope": self.scope,
                "code_challenge": self.code_challenge, "acr": self.min_loa}


def validate(params: MultiDict[str, str], *,
             find_client: Callable[[str], RegisteredClient | None],
             catalogue: Callable[[], ServiceCatalogue],
             connectors: Callable[[], set[str]]) -> AuthorizationRequest:
    """Check ``params`` (query or form) completely; raise on the first problem."""
    client, redirect_uri = _client_and_return_address(params, find_client)
    state = params.get("state")

    def refuse(error: str, description: str) -> AuthorizationError:
        return AuthorizationError(error, description, redirect_uri=redirect_uri, state=state)

    for name in _SINGLE:
        if len(params.getlist(name)) > 1:
            raise refuse("invalid_request", f"parameter {name} given more than once")
        if len(params.get(name, "")) > MAX_PARAMETER_LENGTH:
            raise refuse("invalid_request", f"parameter {name} is too long")
    if "request_uri" in params:
        raise refuse("request_uri_not_supported", "request_uri is not supported")
    if "request" in params:
        raise refuse("request_not_supported", "request objects are not supported")
    if params.get("response_type") != "code":
        raise refuse("unsupported_response_type", "only response_type=code is supported")
    code_challenge = params.get("code_challenge", "")
    if not code_challenge:
        raise refuse("invalid_request", "PKCE is required: code_challenge missing")
    if params.get("code_challenge_method") != "S256":
        raise refuse("invalid_request", "PKCE code_challenge_method must be S256")
    if not _CODE_CHALLENGE.match(code_challenge):
        raise refuse("invalid_request", "code_challenge is malformed")
    scope = params.get("scope", "")
    if "openid" not in scope.split():
        raise refuse("invalid_scope", "scope must contain openid")
    try:
        service = catalogue().from_scope(scope)
    except UnknownServiceError as exc:
        raise refuse("invalid_scope", exc.detail) from None
    if service is None:
        raise refuse("invalid_scope", "scope must name exactly one service as urn:uuid:<uuid>")
    nonce = params.get("nonce", "")
    if not nonce:
        raise refuse("invalid_request", "nonce is required")
    prompt = set(params.get("prompt", "").split())
    if "none" in prompt:  # the broker keeps no session: there is always a login to show
        raise refuse("login_required", "the broker always needs the person to log in")
    if not prompt <= PROMPT_VALUES:
        raise refuse("invalid_request", "prompt has an unsupported value")
    if "consent" in prompt:  # the broker has no consent page to show (OIDC Core 3.1.2.1)
        raise refuse("consent_required", "the broker does not ask for consent")
    try:
        max_age = _max_age(params.get("max_age") or None)
    except ValueError:
        raise refuse("invalid_request", "max_age must be a non-negative integer") from None
    requested = [level for uri in params.get("acr_values", "").split()
                 if (level := loa.from_uri(uri)) is not None]
    hint = params.get("idp_hint") or None
    return AuthorizationRequest(
        client=client, redirect_uri=redirect_uri, state=state, nonce=nonce, scope=scope,
        code_challenge=code_challenge, service=service,
        min_loa=loa.highest([service.min_loa, *requested]) or service.min_loa,
        idp_hint=hint if hint in connectors() else None,
        force_authn="login" in prompt or max_age is not None, max_age=max_age)


def _max_age(value: str | None) -> int | None:
    """``max_age`` in seconds (None when absent); ValueError unless a non-negative integer
    in ASCII digits (``int`` alone would take "+1", " 1", "1_0" and other digits)."""
    if value is None:
        return None
    if not _MAX_AGE.fullmatch(value):
        raise ValueError("max_age is not a non-negative integer")
    return int(value)


def _client_and_return_address(
        params: MultiDict[str, str],
        find_client: Callable[[str], RegisteredClient | None]) -> tuple[RegisteredClient, str]:
    client_ids = params.getlist("client_id")
    client = find_client(client_ids[0]) if len(client_ids) == 1 else None
    if client is None:
        raise UnknownRequesterError("unknown or missing client_id")
    redirect_uris = params.getlist("redirect_uri")
    if len(redirect_uris) != 1 or not client.check_redirect_uri(redirect_uris[0]):
        raise RequestError(f"redirect_uri not registered for client {client.client_id}",
                           public_nl="De dienst gaf een onbekend terugkeeradres op.",
                           public_en="The service gave a return address it did not register.")
    return client, redirect_uris[0]


def response_uri(redirect_uri: str, params: list[tuple[str, str]], *, state: str | None,
                 issuer: str) -> str:
    """``redirect_uri`` with an authorization response: ``params``, the state (when there was
    one) and the issuer (RFC 9207, so a client of several providers can tell who answered)."""
    params = [*params, *([("state", state)] if state else []), ("iss", issuer)]
    return add_params_to_uri(redirect_uri, params)  # type: ignore[no-any-return]


def error_uri(redirect_uri: str, error: str, description: str, state: str | None, *,
              issuer: str) -> str:
    """``redirect_uri`` with the OAuth error parameters, state and issuer."""
    return response_uri(redirect_uri, [("error", error), ("error_description", description)],
                        state=state, issuer=issuer)
