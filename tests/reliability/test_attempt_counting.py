"""Wrong guesses sent at the same instant are counted exactly: every limit is one atomic
operation in the store, so concurrent attempts can neither slip under a limit nor collide
when they make its first count. Successes do not count towards the per-address limit.

Each test sends its attempts at once, half through each door: two ``broker serve`` processes
in the pass with PostgreSQL and Redis, two threads of one broker otherwise.
"""

from __future__ import annotations

from datetime import date
from datetime import timedelta
from typing import Any

import pytest

from broker.config import demo_config
from tests.flows.browser import ACTIVATION_CODE
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.test_portal import portal_login
from tests.reliability.concurrency import at_once
from tests.reliability.conftest import Target
from tests.reliability.forms import Form
from tests.reliability.forms import opened
from tests.reliability.forms import statuses

ADMIN, ADMIN_PASSWORD = "beheerder", "beheer-demo-2026"
JAN = "999993653"
MAX_FAILURES = 5  # [accounts] max_failures, and [register] attempts_per_code: the defaults
ATTEMPTS_PER_PERSON = 10  # [register] attempts_per_person, the default
CODE = ACTIVATION_CODE


@pytest.fixture
def config(base_url: str) -> dict[str, Any]:
    data = demo_config(base_url)
    data["accounts"] = {"address_attempts": 8}
    return data


def _at_once(target: Target, forms: list[Form], data: list[dict[str, str]]) -> list[Any]:
    """Each form sent with its data at the same moment, through alternate doors."""
    return at_once(*(lambda n=n: forms[n].send(data[n], door=target.doors[n % 2])
                     for n in range(len(forms))))


def _admin_login(target: Target) -> Form:
    """A fresh page of the administrators' login (each has its own session)."""
    return opened(Browser(target.base_url), "/admin/inloggen", "form")


def test_wrong_passwords_at_once_lock_the_account_after_exactly_max_failures(
        target: Target) -> None:
    count = MAX_FAILURES + 2
    answers = _at_once(target, [_admin_login(target) for _ in range(count)],
                       [{"username": ADMIN, "password": "not-the-one-1"}] * count)
    # five were checked and refused (the fifth locked the account), two found it locked
    assert statuses(answers) == [401] * MAX_FAILURES + [403] * 2, [a.text[:300] for a in answers]
    right = _admin_login(target).send({"username": ADMIN, "password": ADMIN_PASSWORD})
    assert right.status_code == 403, right.text[:300]


def test_attempts_from_one_address_at_once_are_held_after_exactly_the_limit(
        target: Target) -> None:
    count = 8 + 3
    answers = _at_once(target, [_admin_login(target) for _ in range(count)],
                       [{"username": f"nobody-{n}", "password": "not-the-one-1"}
                        for n in range(count)])
    assert statuses(answers) == [401] * 8 + [429] * 3, [a.text[:300] for a in answers]


def test_successful_logins_do_not_use_up_the_address_limit(target: Target) -> None:
    """A person walking through the demo logs in again and again from one address."""
    for _ in range(8 + 4):
        answer = _admin_login(target).send({"username": ADMIN, "password": ADMIN_PASSWORD})
        assert answer.status_code == 303, answer.text[:300]


def _given_code(target: Target) -> str:
    jan = Browser(target.base_url)
    portal_login(jan, "jan")
    jan.open(target.base_url + "/machtigen/geven")
    until = (date.today() + timedelta(days=30)).isoformat()
    page = jan.submit("form.stack", {"service": INKOMSTEN, "valid_until": until})
    found = CODE.search(page.text)
    assert found, page.text[:500]
    return found.group(0)


def _activations(target: Target, count: int) -> list[Form]:
    fatima = Browser(target.base_url)
    portal_login(fatima, "fatima")
    return [opened(fatima, "/machtigen/activeren", "form.stack") for _ in range(count)]


def _activation(code: str) -> dict[str, str]:
    return {"code": code, "bsn": JAN, "birth_date": "1950-03-14"}


def test_wrong_activation_codes_at_once_lock_the_code_after_exactly_the_limit(
        target: Target) -> None:
    code = _given_code(target)
    count = MAX_FAILURES + 2
    answers = _at_once(target, _activations(target, count),
                       [_activation("AAAA-AAAA-AAAA")] * count)
    assert statuses(answers) == [400] * count, [a.text[:300] for a in answers]
    refused = _activations(target, 1)[0].send(_activation(code))
    assert refused.status_code == 400, "the code should be locked after five wrong tries"


def test_wrong_activations_at_once_block_the_person_after_exactly_the_limit(
        target: Target) -> None:
    answers = _at_once(target, _activations(target, ATTEMPTS_PER_PERSON),
                       [_activation("AAAA-AAAA-AAAA")] * ATTEMPTS_PER_PERSON)
    assert statuses(answers) == [400] * ATTEMPTS_PER_PERSON, [a.text[:300] for a in answers]
    code = _given_code(target)  # a fresh code: only the person's block can refuse it
    blocked = _activations(target, 1)[0].send(_activation(code))
    assert blocked.status_code == 400 and "te vaak" in blocked.text, blocked.text[:300]
