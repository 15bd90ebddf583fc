"""How each endpoint answers an error: in its protocol's own words.

An API client gets OAuth JSON (RFC 6749 section 5.2 at the token endpoint and for the discovery
and JWKS documents, RFC 6750 section 3 at userinfo); a person gets a page in Dutch and
English. A view declares its way with :func:`answers_in`; a view that declares
nothing answers with a page. A path that matches no route is answered the way the routes
under it would be, where a blueprint said so with :func:`answer_unmatched`; a method a route
does not allow is answered the way that route answers.

Every error handler of the app (:mod:`broker.app`) answers through :func:`error_response`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from flask import current_app
from flask import jsonify
from flask import request
from flask.globals import request_ctx
from flask.sansio.app import App
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.wrappers import Response

from broker.errors import BrokerError


class Answer(enum.Enum):
    #: an HTML page for a person, in Dutch and English
    PAGE = "page"
    #: OAuth's JSON error (RFC 6749 section 5.2): the token endpoint, and the endpoints of
    #: JSON documents (discovery, JWKS), whose clients read JSON too
    OAUTH = "oauth"
    #: a protected resource's JSON error with WWW-Authenticate (RFC 6750 section 3): userinfo
    BEARER = "bearer"


View = TypeVar("View", bound=Callable[..., Any])
_DECLARED = "broker_answer"
_UNMATCHED = "broker.unmatched_answers"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def answers_in(answer: Answer) -> Callable[[View], View]:
    """Declare how the decorated view answers errors (put it below the route decorator)."""
    def declare(view: View) -> View:
        setattr(view, _DECLARED, answer)
        return view
    return declare


def answer_unmatched(app: App, prefix: str, answer: Answer) -> None:
    """Paths under ``prefix`` that match no route answer 404 as ``answer`` says."""
    app.extensions.setdefault(_UNMATCHED, {})[prefix] = answer


def current_answer() -> Answer:
    """How the endpoint of the current request answers errors."""
    endpoint = _endpoint()
    if endpoint is not None:
        view = current_app.view_functions.get(endpoint)
        return getattr(view, _DECLARED, Answer.PAGE)
    unmatched: dict[str, Answer] = current_app.extensions.get(_UNMATCHED, {})
    for prefix, answer in sorted(unmatched.items(), key=lambda item: -len(item[0])):
        if request.path.startswith(prefix):
            return answer
    return Answer.PAGE


def _endpoint() -> str | None:
    """The request's endpoint; for a method the route does not allow, that route's."""
    if request.url_rule is not None:
        return str(request.url_rule.endpoint)
    refusal = request.routing_exception
    adapter = request_ctx.url_adapter
    if not isinstance(refusal, MethodNotAllowed) or not refusal.valid_methods or adapter is None:
        return None
    try:
        rule, _ = adapter.match(method=next(iter(refusal.valid_methods)), return_rule=True)
    except HTTPException:
        return None
    return str(rule.endpoint)


def error_response(status: int, *, oidc_error: str, description: str,
                   page: Callable[[], Response], retry_after: int | None = None,
                   allow: str | None = None) -> Response:
    """The error answer for the current endpoint: ``page()`` for a person (with the status it
    sets itself: a cancelled login is a redirect back to the service), else OAuth JSON with
    ``status`` (``oidc_error`` and ``description``, which must not quote the request).
    ``retry_after`` and ``allow`` become the Retry-After and Allow headers."""
    answer = current_answer()
    if answer is Answer.PAGE:
        response = page()
    else:
        response = _json_error(answer, status, oidc_error, description)
        response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    if allow:
        response.headers["Allow"] = allow
    return response


def for_broker_error(error: BrokerError, page: Callable[[], Response]) -> Response:
    """:func:`error_response` for ``error``, with ``page`` as the person's answer."""
    return error_response(error.http_status, oidc_error=error.oidc_error,
                          description=error.public_message_en, page=page,
                          retry_after=error.retry_after)


def for_http_error(error: HTTPException, page: Callable[[], Response]) -> Response:
    """:func:`error_response` for a werkzeug HTTP error (404, 405, 413, 400, ...)."""
    status = error.code or 500
    allow = dict(error.get_headers()).get("Allow")
    return error_response(status, oidc_error=oidc_error_for(status),
                          description=error.name, page=page, allow=allow)


def oidc_error_for(status: int) -> str:
    """The OAuth error code of an HTTP status the broker did not choose itself."""
    if status == 503:
        return "temporarily_unavailable"
    return "server_error" if status >= 500 else "invalid_request"


def add_retry_after(response: Response, error: BrokerError) -> Response:
    """``response`` with Retry-After when trying again later can help with ``error``."""
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _json_error(answer: Answer, status: int, oidc_error: str, description: str) -> Response:
    response = jsonify(error=oidc_error, error_description=description)
    response.headers.update(_NO_STORE)
    if answer is Answer.BEARER and 400 <= status < 500:
        response.headers["WWW-Authenticate"] = f'Bearer error="{oidc_error}"'
    return response
