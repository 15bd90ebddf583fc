"""SATOSA's WSGI app for the login benchmark, served over plain HTTP on loopback.

This module runs in SATOSA's own venv (``benchmarks/.satosa-venv``, see
``benchmarks/satosa_peer.py``), not in the project's: gunicorn loads ``satosa_wsgi:app``, with
the configuration file named by ``SATOSA_CONFIG``.

One relaxation, for the benchmark only: pyop (through oic) refuses to start an OpenID Provider
whose issuer is not ``https``. The benchmark serves the broker and SATOSA alike over plain
HTTP on 127.0.0.1 (no TLS cost on either side), so the issuer's scheme is checked as if it
were https, once, when the provider is built. Nothing is changed per request.
"""

from __future__ import annotations

from typing import Any

from oic.oic import message  # type: ignore[import-not-found]  # SATOSA's venv only

_verify = message.ProviderConfigurationResponse.verify


def _verify_on_loopback(self: Any, **kwargs: Any) -> bool:
    issuer = self["issuer"]
    if issuer.startswith(("http://127.0.0.1:", "http://localhost:")):
        self["issuer"] = "https" + issuer[len("http"):]
    try:
        return bool(_verify(self, **kwargs))
    finally:
        self["issuer"] = issuer


message.ProviderConfigurationResponse.verify = _verify_on_loopback

from satosa.wsgi import app  # type: ignore[import-not-found]  # noqa: E402,F401  (SATOSA_CONFIG)
