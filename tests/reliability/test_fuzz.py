"""Malformed requests to every route of the app, logged in everywhere, with a valid CSRF token:
no input may produce a 5xx (but a deliberate 503), echo a script unescaped, answer an API
client with a page, or change the register.

The browser logs in to the mandate portal (DigiD ``jan``), the organisation portal
(eHerkenning ``beheer``) and the administrators' pages (``beheerder``), and sends the CSRF
token of its session, so that bad input reaches the views behind those logins rather than
stopping at a login page or at the CSRF check; path variables name live things where one is
needed to get further (:class:`~tests.reliability.support.LiveTargets`). The test checks
that every form behind a login was reached: the view itself ran for some probe.

First a corpus: every method of every route meets every family of bad input
(:mod:`.malformed`), drawn by a seeded generator. Then Hypothesis mixes families at routes
of its choosing (derandomised: CI sees the same examples every run) and shrinks what fails.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask import request
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from broker.config import demo_config
from tests.flows.browser import Browser
from tests.reliability.malformed import FAMILIES
from tests.reliability.malformed import Draw
from tests.reliability.malformed import Route
from tests.reliability.malformed import malformed
from tests.reliability.malformed import routes
from tests.reliability.support import XSS_UNESCAPED
from tests.reliability.support import Answered
from tests.reliability.support import LiveTargets
from tests.reliability.support import Probe
from tests.reliability.support import RegisterFingerprint
from tests.reliability.support import cookie_header
from tests.reliability.support import fingerprint_of
from tests.reliability.support import log_in_everywhere
from tests.reliability.support import send

#: the corpus's seed: the same requests on every run
SEED = 13
#: the Hypothesis examples after the corpus
MIXED_EXAMPLES = 150
#: paths whose clients read JSON (the token endpoint, userinfo, JWKS, discovery, health)
JSON_PREFIXES = ("/oidc/", "/.well-known/", "/healthz")
#: forms behind a login: some probe must get past the login and the CSRF check to each view
BEHIND_LOGINS = ("/machtigen/", "/admin/")


@pytest.fixture
def config(base_url: str) -> dict[str, Any]:
    """The demo, with the per-address attempt limit at its highest: the fuzz makes hundreds
    of login attempts from one address, and a 429 would stop them before the views."""
    data = demo_config(base_url)
    data["accounts"] = {"address_attempts": 1000}
    return data


class Fuzzer:
    """Sends probes as the logged-in browser and checks every answer; :meth:`unchanged`
    compares the register with how it was at the start; :attr:`reached` is every route
    whose view ran (and did not send the request to a login page)."""

    def __init__(self, app: Flask, base_url: str, cookies: str, csrf: str,
                 targets: LiveTargets, fingerprint: RegisterFingerprint) -> None:
        self.app, self.base_url, self.cookies, self.csrf = app, base_url, cookies, csrf
        self.targets, self.fingerprint = targets, fingerprint
        self.before = fingerprint.take()
        self.sent: list[str] = []
        self.reached: set[tuple[str, str]] = set()
        self._ran: tuple[str, str] | None = None
        for endpoint, view in list(app.view_functions.items()):
            app.view_functions[endpoint] = self._noting(endpoint, view)

    def probe(self, route: Route, families: list[str], draw: Draw) -> Probe:
        probe = malformed(route, self.csrf, families, draw,
                          self.targets.path_values(route.endpoint))
        own_session = self.targets.cookie_for(route.endpoint)
        if own_session:
            probe = replace(probe, headers=(("Cookie", own_session), *probe.headers))
        return probe

    def check(self, route: Route, probe: Probe) -> None:
        self._ran = None
        answered = send(self.app, probe, base_url=self.base_url, cookies=self.cookies)
        described = f"{route.endpoint}: {probe.describe()}"
        self.sent.append(described)
        if self._ran is not None and not _to_login(answered):
            self.reached.add(self._ran)
        assert answered.status < 500 or answered.status == 503, \
            f"{answered.status} for {described}\n{answered.text[:500]}"
        if answered.mimetype == "text/html":
            assert XSS_UNESCAPED not in answered.text, f"script echoed for {described}"
        if _expects_json(route, answered):
            assert answered.mimetype == "application/json", \
                f"{answered.status} {answered.mimetype} for {described}"

    def unchanged(self, since: int) -> None:
        """The register is as it was; else name the probes sent since the ``since``-th."""
        after = self.fingerprint.take()
        changed = [table for table in after if after[table] != self.before[table]]
        assert not changed, f"{', '.join(changed)} changed by one of:\n" + "\n".join(
            self.sent[since:])

    def _noting(self, endpoint: str, view: Callable[..., Any]) -> Callable[..., Any]:
        """``view``, noting that it ran (the real view runs, unchanged)."""
        @functools.wraps(view)
        def noted(*args: Any, **kwargs: Any) -> Any:
            self._ran = (endpoint, request.environ["REQUEST_METHOD"])
            return view(*args, **kwargs)
        return noted


def _to_login(answered: Answered) -> bool:
    """A redirect to where one logs in: the view's login check sent the request away."""
    return answered.status == 303 and answered.headers.get("Location", "").endswith(
        ("/machtigen/", "/admin/inloggen", "/machtigen/organisatie/"))


def _expects_json(route: Route, answered: Answered) -> bool:
    """A JSON endpoint (or a path under one) answers JSON, errors included; the authorization
    endpoint is a person's and answers pages (or sends the browser back to the client)."""
    if route.endpoint.endswith(".authorization") or answered.status in (301, 302, 303, 308):
        return False
    if route.method == "OPTIONS" and answered.status == 200:
        return False  # Flask's own answer: the Allow header, no body
    return route.rule.startswith(JSON_PREFIXES)


@pytest.fixture
def fuzzer(live_app: Flask, browser: Browser, base_url: str,
           database_url: str) -> Iterator[Fuzzer]:
    csrf = log_in_everywhere(browser)
    browser.open(base_url + "/demo/saml/metadata")  # the demo SP registers itself once
    targets = LiveTargets(live_app, browser)
    with fingerprint_of(database_url) as fingerprint:
        yield Fuzzer(live_app, base_url, cookie_header(browser), csrf, targets, fingerprint)


def test_malformed_requests_to_every_route_get_a_clean_refusal_and_change_nothing(
        live_app: Flask, fuzzer: Fuzzer) -> None:
    every = routes(live_app)
    assert len({route.rule for route in every}) >= 55, "the app's routes were not all found"
    staying = [route for route in every if "uitloggen" not in route.rule]
    generator = random.Random(SEED)

    def corpus(route: Route) -> None:
        sent = len(fuzzer.sent)
        for family in FAMILIES:
            fuzzer.check(route, fuzzer.probe(route, [family], generator.choice))
        fuzzer.unchanged(since=sent)

    for route in staying:
        corpus(route)

    @settings(max_examples=MIXED_EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(route=st.sampled_from(staying),
           families=st.lists(st.sampled_from(sorted(FAMILIES)), min_size=2, max_size=4,
                             unique=True),
           data=st.data())
    def mixed(route: Route, families: list[str], data: st.DataObject) -> None:
        sent = len(fuzzer.sent)
        fuzzer.check(route, fuzzer.probe(
            route, families, lambda options: data.draw(st.sampled_from(options))))
        fuzzer.unchanged(since=sent)

    mixed()
    missed = [f"{route.method} {route.rule}" for route in staying
              if route.method == "POST" and route.rule.startswith(BEHIND_LOGINS)
              and (route.endpoint, "POST") not in fuzzer.reached]
    assert not missed, f"no probe got past the login and the CSRF check to {missed}"
    for route in every:  # the logouts, last: they end the sessions the rest needs
        if route not in staying:
            corpus(route)
    assert len(fuzzer.sent) > len(every) * len(FAMILIES)
