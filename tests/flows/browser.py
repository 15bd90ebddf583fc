"""A small browser for flow tests: real HTTP, real cookies, forms parsed from the HTML.

It follows redirects by hand so a test can stop where the broker hands the browser to a relying
party (whose address is not served) and read what the relying party would receive.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from urllib.parse import urljoin
from urllib.parse import urlsplit

import lxml.html
import requests

from broker.mock_idp.engine import totp

TOTP_SECRET = "JBSWY3DPEHPK3PXP"
#: an activation code as a page shows it: three groups of the codes' alphabet, standing alone
#: (not the digits-only groups a mandate's UUID in a link may happen to have)
ACTIVATION_CODE = re.compile(r"(?<![\w-])[ACDEFGHJKMNPQRTUVWXYZ2345679]{4}"
                             r"(?:-[ACDEFGHJKMNPQRTUVWXYZ2345679]{4}){2}(?![\w-])")


@dataclass
class Arrival:
    """Where the browser was sent outside the broker: a GET URL or a POSTed form."""

    method: str
    url: str
    fields: dict[str, str]


class Browser:
    def __init__(self, broker_url: str, *, doors: tuple[str, ...] = ()) -> None:
        self.broker_url = broker_url
        #: other addresses of the same broker (more processes behind one base URL)
        self.doors = doors
        #: where a request for ``url`` really goes: a test of several broker processes sends
        #: some requests through another door, or to an address outside to capture them
        self.route: Callable[[str], str] = lambda url: url
        self.session = requests.Session()
        self.last: requests.Response | None = None

    def open(self, url: str) -> requests.Response | Arrival:
        return self._follow(self.session.get(self.route(url), allow_redirects=False, timeout=10))

    def submit(self, form_selector: str = "form", data: dict[str, str] | None = None,
               button: tuple[str, str] | None = None) -> requests.Response | Arrival:
        """Submit a form of the current page with its hidden fields plus ``data``."""
        assert self.last is not None
        form = self.form(form_selector)
        fields = {el.get("name"): el.get("value") or "" for el in form.xpath(".//input[@name]")
                  if el.get("type") not in ("submit", "checkbox", "radio") or el.get("checked")}
        fields.update(data or {})
        if button:
            fields[button[0]] = button[1]
        action = urljoin(self.last.url, form.get("action") or self.last.url)
        return self._post(action, fields)

    def form(self, selector: str = "form") -> lxml.html.HtmlElement:
        assert self.last is not None
        page = lxml.html.fromstring(self.last.text)
        forms = page.cssselect(selector)
        assert forms, f"no {selector} on {self.last.url}: {self.last.text[:500]}"
        return forms[0]

    def page(self) -> lxml.html.HtmlElement:
        assert self.last is not None
        return lxml.html.fromstring(self.last.text)

    def text(self) -> str:
        assert self.last is not None
        return " ".join(self.page().text_content().split())

    def login_at_mock_digid(self, username: str, *, code: str | None = None,
                            with_code: bool = True) -> requests.Response | Arrival:
        data = {"username": username, "password": "demo"}
        if with_code:
            data["code"] = code or totp(TOTP_SECRET, datetime.now(UTC))
        return self.submit("form.login", data, button=("action", "login"))

    def login_at_mock_eherkenning(self, username: str, *,
                                  code: str | None = None) -> requests.Response | Arrival:
        """Mock eHerkenning's form has the same fields; every employee needs a TOTP code."""
        return self.login_at_mock_digid(username, code=code)

    def _post(self, url: str, fields: dict[str, str]) -> requests.Response | Arrival:
        url = self.route(url)
        if not self._is_broker(url):
            return Arrival("POST", url, fields)
        return self._follow(self.session.post(url, data=fields, allow_redirects=False, timeout=10))

    def _follow(self, response: requests.Response) -> requests.Response | Arrival:
        for _ in range(20):
            self.last = response
            if response.is_redirect:
                target = self.route(urljoin(response.url, response.headers["Location"]))
                if not self._is_broker(target):
                    return Arrival("GET", target, {})
                response = self.session.get(target, allow_redirects=False, timeout=10)
                continue
            if "data-autosubmit" in response.text:
                return self.submit("form[data-autosubmit]")
            return response
        raise AssertionError("redirect loop")

    def _is_broker(self, url: str) -> bool:
        netloc = urlsplit(url).netloc
        return netloc == urlsplit(self.broker_url).netloc or netloc in (
            urlsplit(door).netloc for door in self.doors)
