"""The demo OpenID Connect relying party: logs in at the broker like any real client would.

Authorization code flow with PKCE S256, state and nonce in the Flask session, the code
exchanged at the token endpoint over real HTTP (client_secret_basic), and the ID token
verified with keys fetched from the broker's JWKS (issuer, audience, expiry, nonce). Its client
secret is generated once and kept (0600) in the instance folder, so restarts reuse it. Demo only.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Blueprint
from flask import abort
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from broker import loa
from broker.context import BrokerContext
from broker.db import ServiceRecord
from broker.errors import ConfigError
from broker.errors import InputError
from broker.frontends.oidc.clients import register_client
from broker.services import is_service_uuid
from broker.web.i18n import translate as t

CLIENT_ID = "demo-rp"
SECRET_FILE = "demo-rp-secret"  # noqa: S105 (a file name)
SESSION_KEY = "demo_oidc"
HTTP_TIMEOUT = 10



class LoginFailed(Exception):
    """The demo could not complete or verify the login; ``code`` names what went wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def create_blueprint(context: BrokerContext, csrf: CSRFProtect) -> Blueprint:
    """The demo relying party's routes under /demo/oidc; registers it at the broker (updating
    the registration on each start, with the same kept secret). ``csrf`` is unused: the demo
    RP has no forms and receives no cross-site POSTs (its callback is a GET)."""
    bp = Blueprint("demo_oidc", __name__, url_prefix="/demo/oidc")
    redirect_uri = context.url("/demo/oidc/callback")
    secret = _client_secret(context.settings.instance_path)
    try:
        register_client(context.session(), client_id=CLIENT_ID, redirect_uris=[redirect_uri],
                        secret=secret, may_receive_bsn=True, name="Demodienst (OIDC)")
    except InputError as exc:
        raise ConfigError(f"demo OIDC relying party cannot register: {exc}") from exc

    @bp.get("/login")
    def login() -> ResponseReturnValue:
        service = request.args.get("service", "")
        if not is_service_uuid(service):
            abort(404)
        verifier = secrets.token_urlsafe(48)
        pending = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24),
                   "verifier": verifier, "service": service}
        session[SESSION_KEY] = pending
        params = {"client_id": CLIENT_ID, "redirect_uri": redirect_uri, "response_type": "code",
                  "scope": f"openid urn:uuid:{service}", "state": pending["state"],
                  "nonce": pending["nonce"], "code_challenge_method": "S256",
                  "code_challenge": create_s256_code_challenge(verifier)}
        return redirect(context.url("/oidc/authorize") + "?" + urlencode(params), 303)

    @bp.get("/callback")
    def callback() -> ResponseReturnValue:
        pending: dict[str, str] | None = session.pop(SESSION_KEY, None)
        try:
            claims = _complete(context, pending, redirect_uri, secret)
        except LoginFailed as failed:
            return render_template("demo/failed.html", protocol="OpenID Connect",
                                   code=failed.code, message=failed.message), 400
        assert pending is not None
        record = context.session().get(ServiceRecord, pending["service"])
        return render_template(
            "demo/result.html", protocol="OpenID Connect",
            service_name=record.name if record else pending["service"],
            summary=summary(claims, record.name if record else pending["service"]),
            rows=[(name, _show(value)) for name, value in claims.items()],
            raw=json.dumps(claims, indent=2, ensure_ascii=False))

    return bp


def _complete(context: BrokerContext, pending: dict[str, str] | None, redirect_uri: str,
              secret: str) -> dict[str, Any]:
    """Check the callback against the session, redeem the code, verify the ID token."""
    if pending is None:
        raise LoginFailed("no_session", t("Geen inlogpoging bekend in deze browser.",
                                          "No login attempt known in this browser."))
    if not hmac.compare_digest(request.args.get("state", ""), pending["state"]):
        raise LoginFailed("state_mismatch", t("De state klopt niet.", "The state does not match."))
    if "error" in request.args:
        raise LoginFailed(request.args["error"], request.args.get("error_description", ""))
    code = request.args.get("code", "")
    if not code:
        raise LoginFailed("no_code", t("Geen code ontvangen.", "No code received."))
    tokens = _redeem(context, code, pending["verifier"], redirect_uri, secret)
    return verify_id_token(context, tokens.get("id_token", ""), pending["nonce"])


def _redeem(context: BrokerContext, code: str, verifier: str, redirect_uri: str,
            secret: str) -> dict[str, Any]:
    try:
        response = requests.post(
            context.url("/oidc/token"), auth=(CLIENT_ID, secret), timeout=HTTP_TIMEOUT,
            data={"grant_type": "authorization_code", "code": code,
                  "redirect_uri": redirect_uri, "code_verifier": verifier})
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise LoginFailed("token_endpoint", type(exc).__name__) from None
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error", "?") if isinstance(body, dict) else "?"
        raise LoginFailed(str(error), str(body.get("error_description", ""))
                          if isinstance(body, dict) else "")
    return body


def verify_id_token(context: BrokerContext, id_token: str, nonce: str) -> dict[str, Any]:
    """The ID token's claims once its signature (broker JWKS), iss, aud, exp and nonce hold."""
    try:
        jwks = requests.get(context.url("/oidc/jwks"), timeout=HTTP_TIMEOUT).json()
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256", "ES256"])
        JWTClaimsRegistry(
            leeway=context.settings.clock_skew_seconds,
            iss={"essential": True, "value": context.settings.base_url},
            aud={"essential": True, "value": CLIENT_ID},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except (requests.RequestException, ValueError, JoseError) as exc:
        raise LoginFailed("invalid_id_token", type(exc).__name__) from None
    return dict(token.claims)


def summary(claims: dict[str, Any], service_name: str) -> list[tuple[str, str]]:
    """Who acts, on whose behalf, at what level, for which service: read from the claims."""
    if "act" in claims:
        actor, represented = claims["act"], claims
    elif "represents" in claims:
        actor, represented = claims, _deepest(claims["represents"])
    else:
        actor, represented = claims, None
    level = next((name for name, uri in loa.EIDAS_URI.items() if uri == claims.get("acr")),
                 str(claims.get("acr", "?")))
    rows = [(t("Wie handelt", "Who acts"), _party(actor))]
    rows.append((t("Namens", "On behalf of"),
                 _party(represented) if represented else t("zichzelf", "themself")))
    mandate = claims.get("mandate")
    if isinstance(mandate, dict):
        kind = mandate.get("kind", "?") + (f" ({mandate['role']})" if mandate.get("role") else "")
        rows.append((t("Soort machtiging", "Kind of mandate"), kind))
    rows.append((t("Betrouwbaarheidsniveau", "Level of assurance"), level))
    rows.append((t("Dienst", "Service"), service_name))
    return rows


def _deepest(represents: dict[str, Any]) -> dict[str, Any]:
    while isinstance(represents.get("represents"), dict):
        represents = represents["represents"]
    return represents


def _party(claims: dict[str, Any]) -> str:
    kind = str(claims.get("sub_id_type", "")).rsplit(":", 1)[-1]
    return f"{claims.get('sub', '?')} ({kind})" if kind else str(claims.get("sub", "?"))


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _client_secret(instance_path: Path) -> str:
    """The demo client's secret: made once, kept 0600 in the instance folder."""
    path = instance_path / SECRET_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value)
    return value
