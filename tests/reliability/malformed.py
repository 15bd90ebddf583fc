"""Malformed requests for every route of the app: the families of bad input, and the routes.

A family turns a well-formed request for a route into a malformed one. Where it has choices
to make (which value, which parameter) it asks ``draw``: the corpus draws with a seeded
random generator, so every route meets every family in the same way on every run; the
Hypothesis test draws through Hypothesis, which mixes families and shrinks what fails.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from urllib.parse import quote
from urllib.parse import urlencode

from flask import Flask

from tests.reliability.support import XSS
from tests.reliability.support import Probe

#: picks one of the options it is given
Draw = Callable[[Sequence[Any]], Any]

#: every parameter name a view of the broker reads, so that bad values reach the views
PARAMETERS = (
    "client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
    "code_challenge_method", "prompt", "max_age", "acr_values", "idp_hint", "grant_type",
    "code", "code_verifier", "client_secret", "SAMLRequest", "SAMLResponse", "RelayState",
    "SigAlg", "Signature", "service", "valid_until", "bsn", "birth_date", "reason",
    "employee", "loa", "chain", "intermediary", "dry_run", "username", "password", "action",
    "current", "new", "repeat", "email", "connector", "choice", "lang", "done", "activated",
    "backup_left", "error", "error_description",
)
#: text that no honest client sends, or that tests the edges of what one may
NASTY = (
    XSS, "\x00", "a\x00b", "\x01\x02\x1b[31m\x1f", "\x7f", "\r\nSet-Cookie: x=1", "\t",
    "' OR '1'='1' --", "../../../../etc/passwd", "${jndi:ldap://127.0.0.1/x}", "{{7*7}}",
    "A" * 5000, "", " ", "\ufeff", "\U0001f642", "0", "-1", "99999999999999999999999",
    "1e309", "NaN", "null", "[]", '{"a":', "<a>", "]]>", "%00", "%zz", "\u202e", "\ufffd",
)
#: percent-encodings that decode to nothing valid, or to control characters
BAD_PERCENT = (
    "%00", "%zz", "%", "%c3%28", "%ff%fe", "%ed%a0%80", "%e2%82", "%c0%af", "%2e%2e%2f",
    "%01%1f%7f", "%0d%0a", "%25%30%30",
)
PATH_VALUES = (
    "%00", "%01", "x%00y", "%zz", "%ff", "%c3%28", "%ed%a0%80", "..%2f..%2fetc", "%2f",
    quote(XSS, safe=""), "A" * 3000, "%20", "~", "0", "-1", "2147483647", "2147483648",
    "99999999999999999999999",
)
GARBAGE_SAML = (
    "PHhtbD4=",  # <xml>
    "not base64 at all!", "PHhtbD4", "====", "", "A" * 20000, base64.b64encode(b"\xff\xfe\x00").decode(),
    base64.b64encode(zlib.compress(b"<a>")[2:-4]).decode(),  # deflated, unclosed
    base64.b64encode(zlib.compress(b"not xml")[2:-4]).decode(),
    base64.b64encode(b"<a>" * 50).decode(),
    base64.b64encode(b"<?xml version='1.0'?><!DOCTYPE a [<!ENTITY b 'c'>]><a>&b;</a>").decode(),
    base64.b64encode(b"<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol' "
                     b"ID='x' Version='2.0' IssueInstant='garbage'/>").decode(),
    base64.b64encode(b"<samlp:AuthnRequest xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol' "
                     b"ID='_1' Version='2.0' IssueInstant='2026-01-01T00:00:00Z'><saml:Issuer "
                     b"xmlns:saml='urn:oasis:names:tc:SAML:2.0:assertion'>"
                     + XSS.encode() + b"</saml:Issuer></samlp:AuthnRequest>").decode(),
    base64.b64encode(zlib.compress(b"<samlp:AuthnRequest xmlns:samlp='urn:oasis:names:tc:"
                                   b"SAML:2.0:protocol'/>")[2:-4]).decode(),
    base64.b64encode(b"<x>\xc3\x28</x>").decode(),
    base64.b64encode(b"a" * 7).decode()[:-2],  # truncated
)
#: a CSV header the bulk import knows, for uploads that get past the header check
IMPORT_HEADER = ("kind,represented_type,represented,representative_type,representative,"
                 "services,loa,branch,valid_from,valid_until")
UPLOADS = (
    ("mandates.csv", b"\xff\xfe\x00\xc3\x28 not utf-8"),
    ("mandates.csv", (IMPORT_HEADER + "\ncompany,kvk," + "1" * 200_000 + ",,,,,,,\n").encode()),
    ("mandates.jsonl", b"[" * 100_000 + b"]" * 100_000 + b"\n"),
    ("mandates.jsonl", json.dumps({"kind": 5, "represented": {"a": [1]}, "services": 3})
     .encode() + b"\n"),
    ("mandates.csv", (IMPORT_HEADER + f"\ncompany,kvk,10000001,pseudonym,{XSS},x,substantial,,"
                      "2026-01-01,\n").encode()),
    ("mandates.csv", (IMPORT_HEADER + "\ncompany,kvk,10000001,pseudonym,a\x00b,x,,,,\n")
     .encode()),
    ("mandates.jsonl", b'{"kind": "company", "representative": "\\u0000"}\n'),
    ("mandates.csv", b""), ("mandates.xlsx", b"PK\x03\x04"), (f"{XSS}.csv", b"x"),
    ("a\x00b.csv", b"x"), ("../../etc/passwd.csv", b"x"),
)


@dataclass(frozen=True)
class Route:
    """One method of one rule of the app's URL map."""

    rule: str  #: e.g. ``/machtigen/machtiging/<mandate_id>``
    method: str
    endpoint: str
    arguments: tuple[tuple[str, str], ...]  #: (name, converter) of each path variable

    def path(self, values: dict[str, str] | None = None) -> str:
        """The path with each variable filled (percent-encoded as on a request line)."""
        path = self.rule
        for name, converter in self.arguments:
            default = "1" if "Integer" in converter else "probe-value"
            value = (values or {}).get(name, default)
            path = path.replace(f"<{_spelling(self.rule, name)}>", value)
        return path

    @property
    def takes_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")


def _spelling(rule: str, name: str) -> str:
    """How the variable ``name`` is written in ``rule``: ``name`` or ``conv:name``."""
    start = rule.index(f"{name}>")
    opening = rule.rindex("<", 0, start)
    return rule[opening + 1:start + len(name)]


def routes(app: Flask) -> list[Route]:
    """Every method of every rule, the logouts last (they end the sessions the rest use)."""
    found = []
    for rule in app.url_map.iter_rules():
        arguments = tuple((name, type(converter).__name__)
                          for name, converter in rule._converters.items())  # noqa: SLF001
        for method in sorted(rule.methods or ()):
            found.append(Route(rule.rule, method, rule.endpoint, arguments))
    return sorted(found, key=lambda route: ("uitloggen" in route.rule, route.rule, route.method))


def well_formed(route: Route, csrf: str, path_values: dict[str, str]) -> Probe:
    """The request a family starts from: the route's path (with ``path_values``), the CSRF
    token for a body."""
    base = Probe(route.method, route.path(path_values),
                 path_values=tuple(path_values.items()))
    if route.takes_body:
        return replace(base, body=urlencode({"csrf_token": csrf}).encode(),
                       content_type="application/x-www-form-urlencoded")
    return base


# -- the families ------------------------------------------------------------------------------

Family = Callable[[Probe, Route, Draw, str], Probe]


def _with_path_value(probe: Probe, route: Route, value: str) -> Probe:
    if route.arguments:
        values = {**dict(probe.path_values), route.arguments[-1][0]: value}
        return replace(probe, path=route.path(values))
    return replace(probe, path=probe.path.rstrip("/") + "/" + value)


def bad_path(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """A path variable (or one more segment) that is NUL, control, broken or huge."""
    return _with_path_value(probe, route, draw(PATH_VALUES))


def nul_in_path(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """A NUL in a path variable (or one more segment): PostgreSQL cannot hold it."""
    return _with_path_value(probe, route, draw(("%00", "x%00y", "probe-value%00")))


def _in_query_and_body(probe: Probe, route: Route, pairs: list[tuple[str, str]],
                       body: bytes) -> Probe:
    """``pairs`` as the query, and ``body`` (urlencoded) where the route takes a body."""
    if not route.takes_body:
        return replace(probe, query=urlencode(pairs).encode())
    return replace(probe, query=urlencode(pairs).encode(), body=body,
                   content_type="application/x-www-form-urlencoded")


def nul_in_every_value(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """A NUL in every known parameter, in the query and in the body."""
    pairs = [(name, draw(("a\x00b", "\x00", "999993653\x00"))) for name in PARAMETERS]
    body = urlencode([("csrf_token", csrf), *pairs]).encode()
    return _in_query_and_body(probe, route, pairs, body)


def nasty_query(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """Known parameters in the query with nasty values, names too."""
    pairs = [(draw(PARAMETERS), draw(NASTY)) for _ in range(4)] + [(draw(NASTY), "x")]
    return replace(probe, query=urlencode(pairs).encode())


def broken_query(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """A query that is no valid percent-encoding, or no UTF-8, or repeats itself."""
    name = draw(PARAMETERS)
    raw = f"{name}={draw(BAD_PERCENT)}&{name}={draw(BAD_PERCENT)}&{draw(BAD_PERCENT)}=1&&=&;"
    return replace(probe, query=raw.encode() + b"&x=\xff\xfe")


def nasty_form(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """Known parameters in the body with nasty values (and the valid CSRF token)."""
    pairs = [("csrf_token", csrf)] + [(draw(PARAMETERS), draw(NASTY)) for _ in range(5)]
    pairs.append((draw(NASTY) or "empty", draw(NASTY)))
    return replace(probe, body=urlencode(pairs).encode(),
                   content_type="application/x-www-form-urlencoded")


def broken_form(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """A urlencoded body with raw non-UTF-8 bytes and broken percent-escapes."""
    name = draw(PARAMETERS)
    body = (f"csrf_token={csrf}&{name}={draw(BAD_PERCENT)}&{name}=%ff&"
            f"{draw(BAD_PERCENT)}={draw(BAD_PERCENT)}&").encode() + b"x=\xff\xfe\x00&&=&"
    return replace(probe, body=body, content_type="application/x-www-form-urlencoded")


def repeated(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """Every known parameter twice, in query and body, with different nasty values."""
    pairs = [(name, draw(NASTY)) for name in PARAMETERS for _ in range(2)]
    body = urlencode([("csrf_token", csrf), ("csrf_token", csrf), *pairs]).encode()
    return _in_query_and_body(probe, route, pairs, body)


def script_everywhere(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """The script marker in every parameter, in the query, the body and the path."""
    pairs = [(name, XSS) for name in PARAMETERS]
    probe = _with_path_value(probe, route, quote(XSS, safe="")) if draw((True, False)) \
        else probe
    body = urlencode([("csrf_token", csrf), *pairs]).encode()
    return _in_query_and_body(probe, route, pairs, body)


def huge(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """A value of 100 kB, ten thousand parameters, or a body over the 2 MB limit."""
    kind = draw(("value", "many", "body"))
    if kind == "value":
        pairs = [("csrf_token", csrf), (draw(PARAMETERS), "x" * 100_000)]
        return replace(probe, query=urlencode(pairs[1:]).encode(),
                       body=urlencode(pairs).encode(),
                       content_type="application/x-www-form-urlencoded")
    if kind == "many":
        many = "&".join(f"{draw(PARAMETERS)}{index}=v" for index in range(10_000))
        return replace(probe, query=many.encode(),
                       body=f"csrf_token={csrf}&{many}".encode(),
                       content_type="application/x-www-form-urlencoded")
    return replace(probe, body=b"a=" + b"x" * (2 * 1024 * 1024 + 10),
                   content_type="application/x-www-form-urlencoded")


def wrong_content_type(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """A body that is not what its Content-Type says, or a Content-Type that is nonsense."""
    content_type, body = draw((
        ("application/json", json.dumps({"csrf_token": csrf, draw(PARAMETERS): XSS})),
        ("application/json", '{"a": [1, 2'),
        ("text/plain", f"csrf_token={csrf}&{draw(PARAMETERS)}={XSS}"),
        ("multipart/form-data", f"csrf_token={csrf}"),
        ("multipart/form-data; boundary=", "--\r\n"),
        ("application/x-www-form-urlencoded; charset=utf-16",
         f"csrf_token={csrf}&a=b".encode("utf-16").decode("latin-1")),
        ("application/xml", "<?xml version='1.0'?><!DOCTYPE a SYSTEM 'file:///etc/passwd'><a/>"),
        ("x/y; boundary=\"", "\xff\xfe"),
        ("application/x-www-form-urlencoded", "\xff" * 64),
    ))
    return replace(probe, body=body.encode("latin-1", "replace"), content_type=content_type)


def broken_multipart(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """multipart/form-data cut off, with the wrong boundary, odd part headers, nasty files."""
    boundary = "----broker-fuzz"
    filename, content = draw(UPLOADS)
    token = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"
             f"{csrf}\r\n").encode()
    upload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
              f"filename=\"{filename}\"\r\nContent-Type: text/csv\r\n\r\n").encode() + \
        content + b"\r\n"
    field = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{draw(PARAMETERS)}\""
             f"\r\n\r\n{draw(NASTY)}\r\n").encode("utf-8", "surrogatepass")
    body = draw((
        token + upload + field + f"--{boundary}--\r\n".encode(),  # whole, nasty content
        token + upload[: len(upload) // 2],  # cut off in the file
        token + b"--" + boundary.encode() + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n",
        token + f"--other\r\n\r\nx\r\n--{boundary}--".encode(),  # a part without headers
        token + b"--" + boundary.encode() + b"\r\n" + b"X-" * 40_000 + b"\r\n\r\n",
        b"no boundary in here at all",
    ))
    return replace(probe, method=probe.method, body=body,
                   content_type=f"multipart/form-data; boundary={boundary}")


def saml_garbage(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """SAMLRequest / SAMLResponse that is no base64, no deflate, no XML, no SAML, in the
    query (Redirect binding) and the body (POST binding), with nasty RelayState and
    signature parameters."""
    pairs = [("SAMLRequest", draw(GARBAGE_SAML)), ("SAMLResponse", draw(GARBAGE_SAML)),
             ("RelayState", draw(NASTY)), ("SigAlg", draw(NASTY)),
             ("Signature", draw(GARBAGE_SAML))]
    body = urlencode([("csrf_token", csrf), *pairs]).encode()
    return _in_query_and_body(probe, route, pairs, body)


def nasty_cookies(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """The broker's cookies (replacing the logged-in ones) with garbage, quoted NUL, huge."""
    name = draw(("broker_portal", "broker_org_portal", "broker_admin", "broker_browser",
                 "broker_lang", "session"))
    value = draw(('"\\000abc"', "x" * 8000, quote(XSS, safe=""), '"\\042"', "%00",
                  "\x00", "a\x01b", "..", '"unterminated'))
    return replace(probe, headers=(*probe.headers, ("Cookie", f"{name}={value}")))


def nasty_headers(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """Authorization that is no credentials, or credentials with NUL or no UTF-8; odd
    forwarding and language headers."""
    basic = base64.b64encode(draw((b"a\x00b:c", b"\xff\xfe:x", b"demo-rp", b":", b"%00:%00",
                                   XSS.encode() + b":" + XSS.encode()))).decode()
    header = draw((
        ("Authorization", f"Basic {basic}"), ("Authorization", "Basic !!!not base64"),
        ("Authorization", "Bearer " + draw(("\x00", "x" * 10_000, XSS, "", "a b c")),),
        ("Authorization", draw(("Basic", "Bearer", "Digest x", "\x01"))),
        ("X-Forwarded-For", draw(("\x00", "x" * 1000, XSS, "1.2.3.4, \x01"))),
        ("X-Forwarded-Host", XSS), ("Accept-Language", "\x00" + XSS),
        ("Content-Length", "-1"), ("User-Agent", "\x00\x01"),
    ))
    return replace(probe, headers=(*probe.headers, header))


def cut_short(probe: Probe, route: Route, draw: Draw, csrf: str) -> Probe:
    """A body shorter than its Content-Length says: the client stopped sending."""
    body = urlencode([("csrf_token", csrf), (draw(PARAMETERS), draw(NASTY))]).encode()
    return replace(probe, body=body, missing=int(draw(("1", "100", "100000"))),
                   content_type="application/x-www-form-urlencoded")


FAMILIES: dict[str, Family] = {
    family.__name__: family for family in (
        bad_path, nul_in_path, nul_in_every_value, nasty_query, broken_query, nasty_form,
        broken_form, repeated, script_everywhere, huge, wrong_content_type, broken_multipart, saml_garbage,
        nasty_cookies, nasty_headers, cut_short)
}


def malformed(route: Route, csrf: str, families: Sequence[str], draw: Draw,
              path_values: dict[str, str] | None = None) -> Probe:
    """The well-formed request for ``route`` with ``families`` applied in order."""
    probe = well_formed(route, csrf, path_values or {})
    for name in families:
        probe = FAMILIES[name](probe, route, draw, csrf)
        probe = replace(probe, notes=(*probe.notes, name))
    return probe

