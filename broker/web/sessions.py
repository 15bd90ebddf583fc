"""Server-side sessions of the broker's own pages (the portals, the admin): idle timeout, the
cookie holds only a random token.

One mechanism for every such page; a :class:`SessionKind` names its cookie and store prefix.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

from broker.context import BrokerContext
from broker.web import security

IDLE_SECONDS = 15 * 60


@dataclass(frozen=True, slots=True)
class SessionKind:
    cookie: str
    prefix: str  #: of the state-store key


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
