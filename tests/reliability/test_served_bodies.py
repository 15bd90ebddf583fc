"""Bodies gunicorn cannot frame, sent over a raw socket to a real ``broker serve``: a 400 in
the endpoint's protocol (OAuth JSON at the token endpoint, a page at a form), not a 500 and
not a dropped connection.

gunicorn reads a chunked body only when the app reads the form, so its framing errors
(``InvalidChunkSize``, ``ChunkMissingTerminator``, ...) surface inside the app, where they
used to be unexpected errors.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.config import demo_config
from tests import services
from tests.served import BROKER
from tests.served import HANG
from tests.served import Served
from tests.served import serve
from tests.served import toml

UNREADABLE = "Dit verzoek bevat tekens of gegevens die wij niet kunnen lezen."
BROKEN_CHUNKS = {
    "chunk size that is no number": b"zz\r\nabc\r\n0\r\n\r\n",
    "chunk without its terminator": b"3\r\nabcXX0\r\n\r\n",
    "chunk size beyond the body": b"10\r\nabc",
}


@pytest.fixture
def served(tmp_path: Path, instance_path: Path,
           service_environ: dict[str, str]) -> Iterator[Served]:
    data = demo_config("http://127.0.0.1")
    if "REDIS_URL" in service_environ:
        data["broker"]["redis_prefix"] = services.redis_prefix()
    config = tmp_path / "broker.toml"
    config.write_text(toml(data))
    own = ("BROKER_CONFIG", "BROKER_SECRET_KEY", "DATABASE_URL", "REDIS_URL")
    environ = {**{k: v for k, v in os.environ.items() if k not in own}, **service_environ}
    with serve([BROKER], config, instance_path, environ, "--workers", "1") as running:
        yield running


def _exchange(served: Served, raw: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send ``raw``, stop sending, read the whole answer: status line, headers, body."""
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=HANG) as connection:
        connection.sendall(raw)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer, "the connection was dropped without an answer"
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in
               (line.partition(":") for line in lines)}
    return status, headers, body


def _chunked_post(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n"
            ).encode() + body


def test_a_chunked_body_gunicorn_cannot_frame_gets_a_400_in_the_endpoints_protocol(
        served: Served) -> None:
    """One server for every case: a worker that survives each is part of the point."""
    for broken, body in BROKEN_CHUNKS.items():
        status, headers, answer = _exchange(served, _chunked_post("/oidc/token", body))
        assert status.startswith("HTTP/1.1 400"), (broken, status, answer[:300])
        assert headers["content-type"].startswith("application/json"), broken
        assert json.loads(answer)["error"] == "invalid_request"
        status, headers, answer = _exchange(served, _chunked_post("/machtigen/geven", body))
        assert status.startswith("HTTP/1.1 400"), (broken, status, answer[:300])
        assert headers["content-type"].startswith("text/html"), broken
        assert UNREADABLE.encode() in answer or b"Dit verzoek kunnen we niet" in answer
    log = served.log.read_text()
    assert "unexpected" not in log and "Traceback" not in log


def test_a_raw_byte_that_is_no_utf8_in_the_query_string_gets_a_400(served: Served) -> None:
    status, _, body = _exchange(served, b"GET /?lang=\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                        b"Connection: close\r\n\r\n")
    assert status.startswith("HTTP/1.1 400"), (status, body[:300])
    assert "unexpected" not in served.log.read_text()
