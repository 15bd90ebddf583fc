"""Headers every response carries, and the cookie that binds a flow to its browser."""

from __future__ import annotations

import secrets

from flask import Flask
from flask import current_app
from flask import request
from werkzeug.wrappers import Response

BINDING_COOKIE = "broker_browser"

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def init_app(app: Flask, *, https: bool) -> None:
    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", _CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if response.mimetype == "text/html":
            headers.setdefault("Cache-Control", "no-store")
            headers.add("Vary", "Cookie")
        return response

    app.after_request(add_headers)


def cookie_name(base: str) -> str:
    """``__Host-<base>`` over https, so browsers enforce Secure, Path=/ and no Domain; the
    plain name over http (the demo on 127.0.0.1), where that prefix cannot be used."""
    return f"__Host-{base}" if _https() else base


def get_cookie(base: str) -> str | None:
    return request.cookies.get(cookie_name(base))


def set_cookie(response: Response, base: str, value: str, *, max_age: int | None = None) -> None:
    """Every broker cookie the same way: HttpOnly, SameSite=Lax, Path=/, no Domain, Secure on
    https. (The cross-site SAML POST needs no cookie: its flow is found by InResponseTo.)"""
    response.set_cookie(cookie_name(base), value, max_age=max_age, path="/", httponly=True,
                        secure=_https(), samesite="Lax")


def delete_cookie(response: Response, base: str) -> None:
    response.delete_cookie(cookie_name(base), path="/", httponly=True, secure=_https(),
                           samesite="Lax")


def browser_binding() -> str | None:
    return get_cookie(BINDING_COOKIE)


def ensure_browser_binding(response: Response, binding: str) -> None:
    """Set the binding cookie on ``response`` unless the browser already sent it."""
    if browser_binding() != binding:
        set_cookie(response, BINDING_COOKIE, binding)


def _https() -> bool:
    return bool(current_app.extensions["broker"].context.settings.secure_cookies)


def new_binding() -> str:
    return secrets.token_urlsafe(32)
