"""Forms sent many times at once: each send has its own HTTP connection but the same cookies
and hidden fields (the CSRF and submission tokens), as a person's reload or double click, or a
script, would send them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests

from tests.flows.browser import Browser


def hidden_fields(browser: Browser, form_selector: str) -> dict[str, str]:
    form = browser.form(form_selector)
    return {el.get("name"): el.get("value") or ""
            for el in form.xpath(".//input[@type='hidden'][@name]")}


@dataclass(frozen=True)
class Form:
    """A form as one page showed it."""

    broker_url: str
    action: str  #: the path it posts to
    hidden: dict[str, str]
    cookies: dict[str, str]

    def send(self, data: dict[str, str], door: str | None = None) -> requests.Response:
        """Post the form with ``data``, through ``door`` (another process of the same
        broker) when given; redirects are not followed."""
        return requests.post((door or self.broker_url) + self.action,
                             data={**self.hidden, **data}, cookies=self.cookies, timeout=120,
                             allow_redirects=False)


def opened(browser: Browser, page: str, form_selector: str) -> Form:
    """Open ``page`` (a path) and take its form."""
    browser.open(browser.broker_url + page)
    assert browser.last is not None
    action = urljoin(browser.last.url, browser.form(form_selector).get("action") or page)
    return Form(browser.broker_url, urlsplit(action).path, hidden_fields(browser, form_selector),
                browser.session.cookies.get_dict())


def statuses(answers: list[Any]) -> list[int]:
    return sorted(answer.status_code for answer in answers)
