"""A TCP proxy in front of a real server (Redis, PostgreSQL) that a test can cut and restore,
so that a broker pointed at it loses that part without the machine's real server ever
stopping: other tests and processes use it meanwhile.

While cut, every connection through the proxy is closed and every new one is closed as soon
as it is accepted: clients see the server go away at once (no timeouts to wait for).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from urllib.parse import urlsplit
from urllib.parse import urlunsplit


class CuttableProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)  # how often the accept loop looks whether to stop
        self.port: int = self._listener.getsockname()[1]
        self._cut = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Drop every connection now, and refuse new ones until :meth:`restore`."""
        self._cut.set()
        with self._lock:
            for connection in self._open:
                _close(connection)
            self._open.clear()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._stopped.set()
        self.cut()
        self._thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                _close(client)
                continue
            try:
                server = socket.create_connection(self._target, timeout=10)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _close(source)
            _close(sink)


def _close(connection: socket.socket) -> None:
    with suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()


@contextmanager
def proxied(url: str, default_port: int) -> Iterator[tuple[CuttableProxy, str]]:
    """A proxy to the server of ``url``, and ``url`` sent through it instead."""
    parts = urlsplit(url)
    proxy = CuttableProxy((parts.hostname or "127.0.0.1", parts.port or default_port))
    credentials = parts.netloc.rpartition("@")[0]
    netloc = (credentials + "@" if credentials else "") + f"127.0.0.1:{proxy.port}"
    try:
        yield proxy, urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    finally:
        proxy.close()
