"""A login load driver: N whole logins at concurrency C, each one checked, with latencies.

It plays a browser (``requests.Session`` per login: cookies, redirects followed by hand,
auto-submitting forms posted, one button pressed on a choice page) and the relying party at
either end. "How to start a login" is one of:

- :class:`OidcLogin`: an OpenID Connect authorization URL, token endpoint and client
  credentials (code flow with PKCE S256 and a nonce; the ID token is verified with the JWKS);
- :class:`SamlLogin`: a SAML SP that sends an AuthnRequest (HTTP-Redirect, signed when given a
  key) to an IdP's SSO URL and receives the Response at its ACS (verified with the IdP's
  metadata certificates: signed Response and Assertion, audience, recipient, InResponseTo).

Neither end is served: the driver stops where the browser would reach the relying party (a
redirect to the redirect_uri, or a form posted to the ACS) and finishes the protocol itself.
Each login's outcome goes through a ``check`` callable; a login that fails for any reason is
counted as failed with a short reason (exception type and message, never a claim value).

Used by ``benchmarks/login.py``; meant to drive other brokers too (SATOSA), so nothing here
knows the broker beyond the protocols. The SAML side reuses the broker's SAML message library
(building the AuthnRequest, verifying the Response) as an SP toolkit.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import cast
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import lxml.html
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from broker.keys import KeyPair
from broker.saml import bindings
from broker.saml import messages
from broker.saml import metadata

TIMEOUT = 30
MAX_STEPS = 20
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_UNSAFE = re.compile(rb"[^A-Za-z0-9_.~ -]")


class LoginFailed(Exception):
    """The login did not end as expected; the message says where (no personal data)."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """Where the browser reached the relying party: a GET URL or a POSTed form."""

    method: str
    url: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class Chooser:
    """On a page with a form holding a button ``name=value`` (e.g. the broker's "on whose
    behalf" page), press it: the form's hidden fields (CSRF token) plus ``name=value``."""

    name: str
    value: str

    def pick(self, page: lxml.html.HtmlElement) -> tuple[lxml.html.HtmlElement, dict[str, str]] | None:
        for form in page.forms:
            for button in form.xpath(".//button[@name] | .//input[@type='submit'][@name]"):
                if button.get("name") == self.name and button.get("value") == self.value:
                    return form, {**_hidden_fields(form), self.name: self.value}
        return None


class Browser:
    """One simulated person's browser for one login."""

    def __init__(self, stop: Callable[[str, str], bool], chooser: Chooser | None) -> None:
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy look-ups in os.environ for every request
        self.stop = stop  #: stop(method, url): True where the relying party is reached
        self.chooser = chooser
        self.chose = False

    def start(self, url: str) -> Arrival:
        return self._go("GET", url, {})

    def _go(self, method: str, url: str, fields: dict[str, str]) -> Arrival:
        for _ in range(MAX_STEPS):
            if self.stop(method, url):
                return Arrival(method, url, fields)
            if method == "GET" and fields:
                url, fields = f"{url}{'&' if '?' in url else '?'}{urlencode(fields)}", {}
            response = (self.session.get(url, allow_redirects=False, timeout=TIMEOUT)
                        if method == "GET" else
                        self.session.post(url, data=form_body(fields), headers=FORM,
                                          allow_redirects=False, timeout=TIMEOUT))
            if response.is_redirect:
                method, url, fields = "GET", urljoin(url, response.headers["Location"]), {}
                continue
            if response.status_code != 200:
                raise LoginFailed(f"HTTP {response.status_code} at {_path(url)}")
            method, url, fields = self._next_form(response)
        raise LoginFailed("too many steps")

    def _next_form(self, response: requests.Response) -> tuple[str, str, dict[str, str]]:
        """The auto-submitting form of the page, or the chooser's button; else a failure."""
        page = cast(lxml.html.HtmlElement, lxml.html.fromstring(response.content))
        for form in page.forms:
            fields = _hidden_fields(form)
            if form.get("data-autosubmit") is not None or "SAMLResponse" in fields or (
                    "SAMLRequest" in fields):
                return _method(form), urljoin(response.url, form.get("action") or response.url), fields
        picked = self.chooser.pick(page) if self.chooser is not None else None
        if picked is None:
            title = page.findtext(".//title") or ""
            raise LoginFailed(f"stuck at {_path(response.url)} ({' '.join(title.split())[:60]})")
        form, fields = picked
        self.chose = True
        return _method(form), urljoin(response.url, form.get("action") or response.url), fields


# -- OpenID Connect --------------------------------------------------------------------------


@dataclass(kw_only=True)
class OidcLogin:
    """An OIDC code-flow login: authorize → (upstream, chooser) → redirect_uri → token."""

    authorize_url: str
    token_url: str
    jwks_url: str
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scope: str
    check: Callable[[dict[str, Any]], None]  #: raises LoginFailed when the claims are wrong
    chooser: Chooser | None = None
    signing_algs: tuple[str, ...] = ("RS256", "ES256")
    _keys: KeySet | None = field(default=None, repr=False)

    def keys(self) -> KeySet:
        """The provider's JWKS, fetched once (before the timed run: call it in warm-up)."""
        if self._keys is None:
            self._keys = KeySet.import_key_set(requests.get(self.jwks_url, timeout=TIMEOUT).json())
        return self._keys

    def __call__(self) -> None:
        keys = self.keys()
        verifier, nonce, state = (secrets.token_urlsafe(48), secrets.token_urlsafe(16),
                                  secrets.token_urlsafe(16))
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        url = self.authorize_url + "?" + urlencode({
            "response_type": "code", "client_id": self.client_id,
            "redirect_uri": self.redirect_uri, "scope": self.scope, "state": state,
            "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"})
        browser = Browser(lambda method, target: target.startswith(self.redirect_uri + "?"),
                          self.chooser)
        arrival = browser.start(url)
        query = {k: v[0] for k, v in parse_qs(urlsplit(arrival.url).query).items()}
        if "error" in query:
            raise LoginFailed(f"authorization error {query['error']}")
        if query.get("state") != state or "code" not in query:
            raise LoginFailed("authorization response without code or with a wrong state")
        reply = browser.session.post(self.token_url, data={
            "grant_type": "authorization_code", "code": query["code"],
            "redirect_uri": self.redirect_uri, "code_verifier": verifier},
            auth=(self.client_id, self.client_secret), timeout=TIMEOUT)
        if reply.status_code != 200:
            raise LoginFailed(f"token endpoint HTTP {reply.status_code}")
        token = jwt.decode(reply.json()["id_token"], keys, algorithms=list(self.signing_algs))
        claims = dict(token.claims)
        if claims.get("iss") != self.issuer or claims.get("nonce") != nonce or (
                claims.get("aud") not in (self.client_id, [self.client_id])):
            raise LoginFailed("ID token iss, aud or nonce wrong")
        if float(claims.get("exp", 0)) < time.time():
            raise LoginFailed("ID token expired")
        self.check(claims)
        if self.chooser is not None and not browser.chose:
            raise LoginFailed("no choice was offered")


# -- SAML ------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class SamlLogin:
    """A SAML Web SSO login from a small SP: AuthnRequest → (upstream, chooser) → Response."""

    sso_url: str
    idp_metadata: bytes  #: the IdP's metadata: its entity id and signing certificates
    sp_entity_id: str
    acs_url: str
    check: Callable[[messages.VerifiedAssertion], None]
    key: KeyPair | None = None  #: signs the AuthnRequest (Redirect binding) when given
    attribute_consuming_service_index: int | None = None
    chooser: Chooser | None = None
    skew: int = 60
    _idp: metadata.EntityMetadata | None = field(default=None, repr=False)

    def idp(self) -> metadata.EntityMetadata:
        if self._idp is None:
            self._idp = metadata.read(self.idp_metadata)
        return self._idp

    def __call__(self) -> None:
        idp = self.idp()
        request_id, document = messages.build_authn_request(
            issuer=self.sp_entity_id, destination=self.sso_url, acs_url=self.acs_url,
            attribute_consuming_service_index=self.attribute_consuming_service_index)
        relay_state = secrets.token_urlsafe(16)
        url = bindings.redirect_url(self.sso_url, "SAMLRequest", document, relay_state, self.key)
        browser = Browser(lambda method, target: method == "POST" and target == self.acs_url,
                          self.chooser)
        arrival = browser.start(url)
        if arrival.fields.get("RelayState") != relay_state:
            raise LoginFailed("RelayState not returned")
        try:
            verified = messages.read_response(
                bindings.decode_post(arrival.fields.get("SAMLResponse")),
                idp_entity_id=idp.entity_id, certificates=idp.signing_certificates,
                acs_url=self.acs_url, audience=self.sp_entity_id, in_response_to=request_id,
                now=datetime.now(UTC), skew=self.skew)
        except (messages.MessageError, bindings.BindingError) as exc:
            raise LoginFailed(f"Response refused: {type(exc).__name__}: {exc}") from None
        self.check(verified)
        if self.chooser is not None and not browser.chose:
            raise LoginFailed("no choice was offered")


# -- running ---------------------------------------------------------------------------------


@dataclass
class RunResult:
    logins: int
    concurrency: int
    seconds: float
    latencies: list[float]  #: of the successful logins, in seconds
    failures: Counter[str]

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def per_second(self) -> float:
        return (self.logins - self.failed) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the successful logins' latencies, in seconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
        return ordered[rank - 1]


def run(login: Callable[[], None], logins: int, concurrency: int) -> RunResult:
    """Run ``logins`` logins, ``concurrency`` at a time (threads), each one checked."""
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    lock = threading.Lock()
    remaining = iter(range(logins))

    def worker() -> None:
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            began = time.perf_counter()
            try:
                login()
            except Exception as exc:  # every failure counts, whatever its kind
                with lock:
                    failures[_reason(exc)] += 1
                continue
            elapsed = time.perf_counter() - began
            with lock:
                latencies.append(elapsed)

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    return RunResult(logins, concurrency, time.perf_counter() - began, latencies, failures)


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:120]}"


def form_body(fields: dict[str, str]) -> bytes:
    """``fields`` form-encoded as a browser does, as urlencode would, but fast for long base64
    values (urllib's quote works byte by byte in Python: about 1.5 ms for a SAML Response)."""
    return b"&".join(_quote(name) + b"=" + _quote(value) for name, value in fields.items())


def _quote(text: str) -> bytes:
    return _UNSAFE.sub(lambda m: b"%%%02X" % m.group()[0], text.encode()).replace(b" ", b"+")


def _hidden_fields(form: lxml.html.HtmlElement) -> dict[str, str]:
    return {el.get("name"): el.get("value") or "" for el in form.xpath(".//input[@name]")
            if (el.get("type") or "text").lower() == "hidden"}


def _method(form: lxml.html.HtmlElement) -> str:
    return (form.get("method") or "GET").upper()


def _path(url: str) -> str:
    """The URL without its query (which may carry messages with personal data)."""
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"
