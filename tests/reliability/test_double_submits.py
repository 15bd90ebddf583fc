"""Forms that create something are safe to send twice: a reload after "Machtiging maken", a
double click, the same form at the same moment at two processes, or the organisation portal's
grant sent again make one mandate, and the register refuses a duplicate of one in force.

Concurrent sends go through both doors: two ``broker serve`` processes in the pass with
PostgreSQL and Redis, two threads of one broker otherwise.
"""

from __future__ import annotations

from datetime import date
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select

from broker.mock_idp.pseudonyms import employee_pseudonym
from broker.register.models import Mandate
from tests.flows.browser import ACTIVATION_CODE
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import TOESLAGEN
from tests.flows.test_organisation_portal import _org_portal_login
from tests.flows.test_portal import portal_login
from tests.reliability.concurrency import at_once
from tests.reliability.conftest import Target
from tests.reliability.forms import opened
from tests.reliability.forms import statuses

JAN, FATIMA, HENK = "999993653", "999990676", "999992570"
BAKERY = "10000001"
EVA = employee_pseudonym(BAKERY, "eva")
OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
CODE = ACTIVATION_CODE
UNTIL = (date.today() + timedelta(days=30)).isoformat()


def _mandates(target: Target, **where: str) -> int:
    target.session.rollback()  # a fresh look at what the broker committed
    return int(target.session.execute(select(func.count()).select_from(Mandate).where(
        *(getattr(Mandate, key) == value for key, value in where.items()))).scalar_one())


def _jan(target: Target) -> Browser:
    jan = Browser(target.base_url)
    portal_login(jan, "jan")
    return jan


def test_reloading_after_machtiging_maken_makes_no_second_mandate_and_no_second_code(
        target: Target) -> None:
    jan = _jan(target)
    before = _mandates(target, represented_id=JAN)
    form = opened(jan, "/machtigen/geven", "form.stack")
    first = form.send({"service": INKOMSTEN, "valid_until": UNTIL})
    assert first.status_code == 303 and "/code" in first.headers["Location"]
    again = form.send({"service": INKOMSTEN, "valid_until": UNTIL})  # a reload posts it again
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert _mandates(target, represented_id=JAN) == before + 1
    code_page = target.base_url + first.headers["Location"]
    assert CODE.search(jan.open(code_page).text), "the code is shown on the page it led to"
    shown_again = jan.open(code_page).text
    assert not CODE.search(shown_again) and "al getoond" in shown_again, "and only once"


def test_machtiging_maken_sent_at_once_through_both_doors_makes_one_mandate(
        target: Target) -> None:
    jan = _jan(target)
    before = _mandates(target, represented_id=JAN)
    form = opened(jan, "/machtigen/geven", "form.stack")
    answers = at_once(*(lambda door=door: form.send({"service": INKOMSTEN, "valid_until": UNTIL},
                                                    door=door) for door in target.doors))
    assert statuses(answers) == [303, 303], [a.text[:300] for a in answers]
    assert len({answer.headers["Location"] for answer in answers}) == 1
    assert _mandates(target, represented_id=JAN) == before + 1


def test_a_request_sent_twice_makes_one_request_and_one_letter(target: Target) -> None:
    """Asking Henk for a mandate: the second sending goes to the first one's confirmation,
    and a new form asking the same again is refused (a request is pending already)."""
    fatima = Browser(target.base_url)
    portal_login(fatima, "fatima")
    ask = {"bsn": HENK, "birth_date": "1941-01-20", "service": TOESLAGEN, "valid_until": UNTIL}
    form = opened(fatima, "/machtigen/aanvragen", "form.stack")
    answers = at_once(*(lambda door=door: form.send(ask, door=door) for door in target.doors))
    assert statuses(answers) == [303, 303], [a.text[:300] for a in answers]
    assert _mandates(target, represented_id=HENK, state="requested") == 1
    refused = opened(fatima, "/machtigen/aanvragen", "form.stack").send(ask)
    assert refused.status_code == 400 and "al om een machtiging" in refused.text
    assert _mandates(target, represented_id=HENK, state="requested") == 1


def test_an_activation_sent_twice_activates_once_and_counts_no_wrong_attempt(
        target: Target) -> None:
    jan = _jan(target)
    given = opened(jan, "/machtigen/geven", "form.stack").send(
        {"service": TOESLAGEN, "valid_until": UNTIL})
    code = CODE.search(jan.open(target.base_url + given.headers["Location"]).text).group(0)
    fatima = Browser(target.base_url)
    portal_login(fatima, "fatima")
    form = opened(fatima, "/machtigen/activeren", "form.stack")
    typed = {"code": code, "bsn": JAN, "birth_date": "1950-03-14"}
    answers = at_once(*(lambda door=door: form.send(typed, door=door) for door in target.doors))
    assert statuses(answers) == [303, 303], [a.text[:300] for a in answers]
    assert len({answer.headers["Location"] for answer in answers}) == 1
    assert form.send(typed).status_code == 303  # and later again: still the same mandate
    assert _mandates(target, represented_id=JAN, representative_id=FATIMA, state="active") == 2


def test_an_authorisation_granted_twice_at_once_is_granted_once(target: Target) -> None:
    bea = Browser(target.base_url)
    _org_portal_login(bea, "beheer")
    before = _mandates(target, representative_id=EVA)
    grant = {"employee": EVA, "service": OMZET, "loa": "high"}
    form = opened(bea, "/machtigen/organisatie/medewerkers", "form.stack")
    answers = at_once(*(lambda door=door: form.send(grant, door=door) for door in target.doors))
    assert statuses(answers) == [303, 303], [a.text[:300] for a in answers]
    assert _mandates(target, representative_id=EVA) == before + 1
    again = opened(bea, "/machtigen/organisatie/medewerkers", "form.stack").send(grant)
    assert again.status_code == 400 and "heeft deze machtiging al" in again.text
    assert _mandates(target, representative_id=EVA) == before + 1


def test_two_administrators_granting_the_same_at_once_grant_it_once(target: Target) -> None:
    """Two forms (two tokens), one authorisation: the register refuses the duplicate, also
    when both arrive at the same moment at two processes."""
    bea = Browser(target.base_url)
    _org_portal_login(bea, "beheer")
    before = _mandates(target, representative_id=EVA)
    grant = {"employee": EVA, "service": OMZET, "loa": "high"}
    forms = [opened(bea, "/machtigen/organisatie/medewerkers", "form.stack") for _ in range(2)]
    answers = at_once(*(lambda n=n: forms[n].send(grant, door=target.doors[n]) for n in range(2)))
    assert statuses(answers) == [303, 400], [a.text[:300] for a in answers]
    assert _mandates(target, representative_id=EVA) == before + 1
