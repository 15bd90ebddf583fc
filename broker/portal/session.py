"""Portal sessions: the citizen portal's :class:`PortalUser`, kept with the broker's one
session mechanism (:mod:`broker.web.sessions`, whose names are at hand here for the portals).

The citizen portal uses :func:`start` / :func:`current` / :func:`end`.
"""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.wrappers import Response

from broker.context import BrokerContext
from broker.web.sessions import IDLE_SECONDS as IDLE_SECONDS
from broker.web.sessions import SessionKind as SessionKind
from broker.web.sessions import close_session as close_session
from broker.web.sessions import key as key
from broker.web.sessions import open_session as open_session
from broker.web.sessions import session_data as session_data

COOKIE = "broker_portal"
CITIZEN = SessionKind(cookie=COOKIE, prefix="portal-session")


@dataclass(frozen=True, slots=True)
class PortalUser:
    bsn: str
    loa: str


def start(context: BrokerContext, response: Response, user: PortalUser) -> None:
    open_session(context, response, CITIZEN, {"bsn": user.bsn, "loa": user.loa})


def current(context: BrokerContext) -> PortalUser | None:
    data = session_data(context, CITIZEN)
    return PortalUser(bsn=data["bsn"], loa=data["loa"]) if data else None


def end(context: BrokerContext, response: Response) -> None:
    close_session(context, response, CITIZEN)
