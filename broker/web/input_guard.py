"""One check of every request before any view: nothing in it that no honest client sends and
that the database would choke on.

A NUL or other control character in the path, a query or form parameter (name or value), an
uploaded file's name, a cookie or a header (and, where an endpoint reads them, the client
credentials of HTTP Basic, once decoded: :func:`refuse_unreadable_credentials`) is refused as
a :class:`MalformedInputError`, answered in the endpoint's protocol;
so is a raw query string that is no UTF-8 (werkzeug fails on it in ``request.args``).
PostgreSQL cannot store NUL in text at all, so without this check such a byte became an error
deep inside whichever view first handed it to the database. Values may hold tab, line feed
and carriage return (a reason typed over several lines); names, paths, cookies and headers
may not (a header may hold a tab). The contents of uploaded files are the upload's own
business. Whole numbers in a path are bounded to what a database integer holds.

A HEAD request is a GET whose answer has no body (RFC 9110 section 9.3.2), and views see it
as one (:class:`BrokerRequest`): a view that tells GET from POST by ``method == "GET"`` would
otherwise run its POST branch for HEAD, which no CSRF check guards (a login attempt, a
choice made).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import IO
from typing import Any
from urllib.parse import unquote

from flask import Flask
from flask import Request
from flask import request
from werkzeug.routing import IntegerConverter

from broker.errors import MalformedInputError

#: in a value: every C0 control character but tab, line feed and carriage return, and DEL
_CONTROL_IN_VALUE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: in a name, a path, a cookie: every C0 control character, and DEL
_CONTROL_IN_NAME = re.compile("[\x00-\x1f\x7f]")
#: in a header value: every C0 control character but tab, and DEL (RFC 9110 section 5.5)
_CONTROL_IN_HEADER = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
#: the largest value of a 4-byte database integer (PostgreSQL ``integer``)
LARGEST_PATH_INTEGER = 2**31 - 1


class BoundedIntegerConverter(IntegerConverter):
    """``<int:...>`` in a route: a number beyond :data:`LARGEST_PATH_INTEGER` matches no route
    (404), instead of reaching the database, which cannot compare it with an integer column."""

    def __init__(self, map: object, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max", LARGEST_PATH_INTEGER)
        super().__init__(map, *args, **kwargs)  # type: ignore[arg-type]


class BrokerRequest(Request):
    """Flask's request, but HEAD reads as GET to the views; routing and the answer (which
    werkzeug sends without its body) still go by the method the client sent. The temporary
    files of an upload are closed with the request also when its multipart body was cut off
    (werkzeug drops those of a body it cannot finish, leaving them to the garbage
    collector)."""

    def __init__(self, environ: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(environ, *args, **kwargs)
        if self.method == "HEAD":
            self.method = "GET"
        self._upload_streams: list[IO[bytes]] = []

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None,
                         content_length: int | None = None) -> IO[bytes]:
        stream = super()._get_file_stream(total_content_length, content_type, filename,
                                          content_length)
        self._upload_streams.append(stream)
        return stream

    def close(self) -> None:
        try:
            super().close()
        finally:
            for stream in self._upload_streams:
                stream.close()


def init_app(app: Flask) -> None:
    """Check every request before any other ``before_request`` (CSRF included); call before
    any blueprint is registered, so that every ``<int:...>`` route is bounded."""
    app.request_class = BrokerRequest
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.before_request(refuse_unreadable_input)


def refuse_unreadable_input() -> None:
    """Raise :class:`MalformedInputError` naming where (never what) the bad byte was."""
    _check("path", [request.path], _CONTROL_IN_NAME)
    _require_utf8_query()
    _check_parameters("query", request.args.items(multi=True))
    if request.method not in ("GET", "OPTIONS"):
        _check_parameters("form", request.form.items(multi=True))
        _check("upload", request.files.keys(), _CONTROL_IN_NAME)
        _check("upload", (upload.filename or "" for upload in request.files.values()),
               _CONTROL_IN_NAME)
    _check("cookie", request.cookies.keys(), _CONTROL_IN_NAME)
    _check("cookie", request.cookies.values(), _CONTROL_IN_NAME)
    _check("header", (value for _, value in request.headers.items()), _CONTROL_IN_HEADER)


def refuse_unreadable_credentials() -> None:
    """For an endpoint that authenticates clients with HTTP Basic (the token endpoint): raise
    :class:`MalformedInputError` for credentials that are no UTF-8 or hold a control
    character. Elsewhere a Basic header is no credential at all (at userinfo, the wrong
    scheme), so the guard of every request leaves it alone."""
    _check("credentials", _basic_credentials(), _CONTROL_IN_NAME)


def _require_utf8_query() -> None:
    """werkzeug decodes the raw query string as UTF-8 before it splits it, and fails on a
    raw byte that is none (percent-escaped ones it keeps); so does every ``request.args``."""
    try:
        request.query_string.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedInputError("query string is not UTF-8") from None


def _check_parameters(where: str, pairs: Iterable[tuple[str, str]]) -> None:
    for name, value in pairs:
        _check(where, [name], _CONTROL_IN_NAME)
        _check(where, [value], _CONTROL_IN_VALUE)


def _check(where: str, values: Iterable[str], forbidden: re.Pattern[str]) -> None:
    for value in values:
        if forbidden.search(value):
            raise MalformedInputError(f"control character in the {where}")


def _basic_credentials() -> list[str]:
    """The client id and secret of an HTTP Basic Authorization header, decoded as the token
    endpoint (authlib) decodes them: base64, UTF-8, then form-urlencoding (RFC 6749 2.3.1).
    Credentials that are no UTF-8 are refused here: authlib would fail on them."""
    parts = request.headers.get("Authorization", "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "basic":
        return []
    try:
        decoded = base64.b64decode(parts[1])
    except binascii.Error:
        return []  # not credentials at all; the token endpoint refuses them as such
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedInputError("HTTP Basic credentials are not UTF-8") from None
    return [unquote(part) for part in text.split(":", 1)]
