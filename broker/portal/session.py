"""Portal sessions: server-side, idle timeout, the cookie holds only a random token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from flask import request
from werkzeug.wrappers import Response

from broker.context import BrokerContext

COOKIE = "broker_portal"
IDLE_SECONDS = 15 * 60


@dataclass(frozen=True, slots=True)
class PortalUser:
    bsn: str
    loa: str


def start(context: BrokerContext, response: Response, user: PortalUser) -> None:
    token = secrets.token_urlsafe(32)
    context.store.put(_key(token), {"bsn": user.bsn, "loa": user.loa}, IDLE_SECONDS)
    response.set_cookie(COOKIE, token, httponly=True, samesite="Lax", path="/machtigen",
                        secure=context.settings.secure_cookies)


def current(context: BrokerContext) -> PortalUser | None:
    """The logged-in person, extending the idle timeout; None when absent or timed out."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    data = context.store.get(_key(token))
    if data is None:
        return None
    context.store.put(_key(token), data, IDLE_SECONDS)
    return PortalUser(bsn=data["bsn"], loa=data["loa"])


def end(context: BrokerContext, response: Response) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        context.store.delete(_key(token))
    response.delete_cookie(COOKIE, path="/machtigen")


def _key(token: str) -> str:
    return "portal-session:" + hashlib.sha256(token.encode()).hexdigest()
