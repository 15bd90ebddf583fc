"""``GET /healthz`` for load balancers: does this process reach the parts it needs?

200 ``{"status": "ok", "database": "ok", "state": "ok"}``, or 503 with ``"status":
"unavailable"`` and each part that does not answer marked ``"unavailable"`` (with
Retry-After). It reads nothing but one ``SELECT 1`` and one absent state key: no personal
data, no configuration, no version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint
from flask import Response
from flask import jsonify
from sqlalchemy import text

from broker.errors import DATABASE
from broker.errors import STATE
from broker.errors import ServiceUnavailableError
from broker.web import failures
from broker.web.answers import Answer
from broker.web.answers import answer_unmatched
from broker.web.answers import answers_in
from broker.web.runtime import runtime

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)
bp.record_once(lambda state: answer_unmatched(state.app, "/healthz/", Answer.OAUTH))
#: a key nothing ever stores: reading it asks the store to answer, and changes nothing
_PROBE_KEY = "healthz:probe"


@bp.get("/healthz")
@answers_in(Answer.OAUTH)
def healthz() -> Response:
    parts = {DATABASE: _state_of(_ask_database), STATE: _state_of(_ask_state)}
    healthy = all(state == "ok" for state in parts.values())
    response = jsonify(status="ok" if healthy else "unavailable", **parts)
    response.headers["Cache-Control"] = "no-store"
    if not healthy:
        response.status_code = 503
        response.headers["Retry-After"] = str(ServiceUnavailableError.retry_after)
    return response


def _state_of(ask: Callable[[], None]) -> str:
    try:
        ask()
    except failures.DATABASE_UNAVAILABLE + failures.STATE_UNAVAILABLE as failure:
        log.warning("healthz: %s", type(failure).__name__)
        return "unavailable"
    return "ok"


def _ask_database() -> None:
    session = runtime().context.session()
    try:
        session.execute(text("SELECT 1"))
    finally:
        failures.roll_back(session)


def _ask_state() -> None:
    runtime().context.store.get(_PROBE_KEY)
