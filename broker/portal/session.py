"""Portal sessions: server-side, idle timeout, the cookie holds only a random token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from werkzeug.wrappers import Response

from broker.context import BrokerContext
from broker.web import security

COOKIE = "broker_portal"
IDLE_SECONDS = 15 * 60


@dataclass(frozen=True, slots=True)
class PortalUser:
    bsn: str
    loa: str


def start(context: BrokerContext, response: Response, user: PortalUser) -> None:
    token = secrets.token_urlsafe(32)
    context.store.put(_key(token), {"bsn": user.bsn, "loa": user.loa}, IDLE_SECONDS)
    security.set_cookie(response, COOKIE, token)


def current(context: BrokerContext) -> PortalUser | None:
    """The logged-in person, extending the idle timeout; None when absent or timed out."""
    token = security.get_cookie(COOKIE)
    if not token:
        return None
    data = context.store.get(_key(token))
    if data is None:
        return None
    context.store.put(_key(token), data, IDLE_SECONDS)
    return PortalUser(bsn=data["bsn"], loa=data["loa"])


def end(context: BrokerContext, response: Response) -> None:
    token = security.get_cookie(COOKIE)
    if token:
        context.store.delete(_key(token))
    security.delete_cookie(response, COOKIE)


def _key(token: str) -> str:
    return "portal-session:" + hashlib.sha256(token.encode()).hexdigest()
