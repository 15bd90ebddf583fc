"""Headers every response carries, and the cookie that binds a flow to its browser."""

from __future__ import annotations

import secrets

from flask import Flask
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
        return response

    app.after_request(add_headers)


def browser_binding() -> str | None:
    return request.cookies.get(BINDING_COOKIE)


def ensure_browser_binding(response: Response, binding: str, *, secure: bool) -> None:
    """Set the binding cookie on ``response`` unless the browser already sent it."""
    if request.cookies.get(BINDING_COOKIE) != binding:
        response.set_cookie(BINDING_COOKIE, binding, httponly=True, secure=secure,
                            samesite="Lax", path="/")


def new_binding() -> str:
    return secrets.token_urlsafe(32)
