"""Portal sessions: server-side, idle timeout, the cookie holds only a random token.

One mechanism for every portal; a :class:`SessionKind` names its cookie and store prefix. The
citizen portal uses :func:`start` / :func:`current` / :func:`end` with a :class:`PortalUser`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

from broker.context import BrokerContext
from broker.web import security

COOKIE = "broker_portal"
IDLE_SECONDS = 15 * 60


@dataclass(frozen=True, slots=True)
class SessionKind:
    cookie: str
    prefix: str  #: of the state-store key


CITIZEN = SessionKind(cookie=COOKIE, prefix="portal-session")


@dataclass(frozen=True, slots=True)
class PortalUser:
    bsn: str
    loa: str


def open_session(context: BrokerContext, response: Response, kind: SessionKind,
                 data: dict[str, Any]) -> None:
    """Keep ``data`` server-side under a fresh token, set as the kind's cookie."""
    token = secrets.token_urlsafe(32)
    context.store.put(key(kind, token), data, IDLE_SECONDS)
    security.set_cookie(response, kind.cookie, token)


def session_data(context: BrokerContext, kind: SessionKind) -> dict[str, Any] | None:
    """The session's data, extending the idle timeout; None when absent or timed out."""
    token = security.get_cookie(kind.cookie)
    data = context.store.get(key(kind, token)) if token else None
    if token is None or data is None:
        return None
    context.store.put(key(kind, token), data, IDLE_SECONDS)
    return data


def close_session(context: BrokerContext, response: Response, kind: SessionKind) -> None:
    token = security.get_cookie(kind.cookie)
    if token:
        context.store.delete(key(kind, token))
    security.delete_cookie(response, kind.cookie)


def key(kind: SessionKind, token: str) -> str:
    return f"{kind.prefix}:" + hashlib.sha256(token.encode()).hexdigest()


def start(context: BrokerContext, response: Response, user: PortalUser) -> None:
    open_session(context, response, CITIZEN, {"bsn": user.bsn, "loa": user.loa})


def current(context: BrokerContext) -> PortalUser | None:
    data = session_data(context, CITIZEN)
    return PortalUser(bsn=data["bsn"], loa=data["loa"]) if data else None


def end(context: BrokerContext, response: Response) -> None:
    close_session(context, response, CITIZEN)
