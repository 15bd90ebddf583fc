"""The mandate register: give, ask, approve, activate, revoke, legal representation.

Every refusal is checked to change nothing.
"""

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select

from broker.context import service_from_record
from broker.db import ServiceRecord
from broker.demo.seed import seed
from broker.errors import InputError
from broker.register.models import ACTIVE
from broker.register.models import AWAITING_ACTIVATION
from broker.register.models import EXPIRED
from broker.register.models import REQUESTED
from broker.register.models import REVOKED
from broker.register.models import Mandate
from broker.register.models import MandateEvent
from broker.register.service import WRONG_ACTIVATION
from broker.register.service import Limits
from broker.register.service import Register
from broker.register.service import RegisterError
from broker.services import ServiceCatalogue
from broker.web.database import db
from tests.fakes import Clock

JAN, FATIMA, PIETER, HENK, NOOR = "999993653", "999990676", "999991772", "999992570", "999990019"
JAN_BORN = date(1950, 3, 14)
INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"
TOESLAGEN = "1373be8a-5091-5838-ac0d-b3234dc1fa5f"
ZORG = "e00bfadf-3129-5f5d-88eb-63e4ca833c5d"
OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _register(session: Any, clock: Clock, limits: Limits = Limits()) -> Register:
    seed(session, now=clock.now)
    catalogue = ServiceCatalogue([service_from_record(r) for r in session.query(ServiceRecord)])
    return Register(session, catalogue, clock=clock, limits=limits)


@pytest.fixture
def register(database: Any, clock: Clock) -> Register:
    return _register(database, clock)


def _count(model: type) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_given_mandate_awaits_activation_with_a_code_shown_once(register: Register) -> None:
    mandate, code = register.give(giver=JAN, services=[INKOMSTEN], days=30)
    assert mandate.state == AWAITING_ACTIVATION and mandate.representative_id == ""
    assert len(code) == 14 and code not in mandate.codes[0].code_hash


def test_activation_with_code_bsn_and_birth_date_makes_the_activator_representative(
        register: Register) -> None:
    mandate, code = register.give(giver=JAN, services=[INKOMSTEN], days=30)
    activated = register.activate(activator=PIETER, represented_bsn=JAN, birth_date=JAN_BORN,
                                  code=code.lower().replace("-", " "))
    assert activated.id == mandate.id and activated.state == ACTIVE
    assert activated.representative_id == PIETER
    assert [e.action for e in activated.events] == ["given", "activated"]


@pytest.mark.parametrize("wrong", ["bsn", "birth_date", "code"])
def test_wrong_activation_input_gets_one_message_and_changes_no_mandate(
        register: Register, wrong: str) -> None:
    mandate, code = register.give(giver=JAN, services=[INKOMSTEN], days=30)
    values = {"represented_bsn": JAN, "birth_date": JAN_BORN, "code": code}
    field = "represented_bsn" if wrong == "bsn" else wrong
    values[field] = {"bsn": PIETER, "birth_date": date(1950, 3, 15),
                     "code": "AAAA-AAAA-AAAA"}[wrong]
    with pytest.raises(RegisterError) as caught:
        register.activate(activator=FATIMA, **values)  # type: ignore[arg-type]
    assert str(caught.value) == WRONG_ACTIVATION
    assert db.session.get(Mandate, mandate.id).state == AWAITING_ACTIVATION


def test_code_locks_after_five_wrong_attempts(register: Register) -> None:
    _, code = register.give(giver=JAN, services=[INKOMSTEN], days=30)
    for _ in range(5):
        with pytest.raises(RegisterError):
            register.activate(activator=FATIMA, represented_bsn=JAN, birth_date=JAN_BORN,
                              code="AAAA-AAAA-AAAA")
    with pytest.raises(RegisterError):
        register.activate(activator=PIETER, represented_bsn=JAN, birth_date=JAN_BORN, code=code)


def test_person_is_locked_out_after_ten_wrong_attempts_then_released_after_a_day(
        database: Any, clock: Clock) -> None:
    register = _register(database, clock, Limits(attempts_per_person=3))
    _, code = register.give(giver=JAN, services=[INKOMSTEN], days=30)
    for _ in range(3):
        with pytest.raises(RegisterError, match="niet correct|not correct"):
            register.activate(activator=FATIMA, represented_bsn=HENK,
                              birth_date=JAN_BORN, code="AAAA-AAAA-AAAA")
    with pytest.raises(RegisterError, match="blocked"):
        register.activate(activator=FATIMA, represented_bsn=JAN, birth_date=JAN_BORN, code=code)
    clock.now += timedelta(days=1, seconds=1)
    _, code = register.give(giver=JAN, services=[INKOMSTEN], days=30)
    assert register.activate(activator=FATIMA, represented_bsn=JAN, birth_date=JAN_BORN,
                             code=code).state == ACTIVE


def test_screen_code_expires_after_an_hour(register: Register, clock: Clock) -> None:
    _, code = register.give(giver=JAN, services=[INKOMSTEN], days=30)
    clock.now += timedelta(hours=1, seconds=1)
    with pytest.raises(RegisterError):
        register.activate(activator=FATIMA, represented_bsn=JAN, birth_date=JAN_BORN, code=code)


def test_giver_cannot_activate_their_own_mandate(register: Register) -> None:
    _, code = register.give(giver=JAN, services=[INKOMSTEN], days=30)
    with pytest.raises(RegisterError, match="yourself"):
        register.activate(activator=JAN, represented_bsn=JAN, birth_date=JAN_BORN, code=code)


@pytest.mark.parametrize(("services", "days", "message"), [
    ([], 30, "at least one service"),
    ([INKOMSTEN], 0, "1 day"),
    ([INKOMSTEN], 5 * 365 + 2, "5 years"),
    (["00000000-0000-0000-0000-000000000000"], 30, "Unknown service"),
    ([ZORG], 30, "does not accept"),
    ([OMZET], 30, "does not accept"),
])
def test_bad_gift_is_refused_and_writes_nothing(register: Register, services: list[str],
                                                days: int, message: str) -> None:
    before = _count(Mandate)
    with pytest.raises(RegisterError, match=message):
        register.give(giver=JAN, services=services, days=days)
    db.session.rollback()
    assert _count(Mandate) == before


def test_asking_sends_a_letter_whose_code_activates_for_the_requester_only(
        register: Register) -> None:
    mandate = register.ask(requester=FATIMA, represented_bsn=HENK,
                           birth_date=date(1941, 1, 20), services=[TOESLAGEN], days=365)
    assert mandate.state == REQUESTED
    (letter,) = register.letters_for(HENK)
    code = next(word for word in letter.body.split() if word.count("-") == 2 and len(word) == 14)
    with pytest.raises(RegisterError):
        register.activate(activator=PIETER, represented_bsn=HENK, birth_date=date(1941, 1, 20),
                          code=code)
    activated = register.activate(activator=FATIMA, represented_bsn=HENK,
                                  birth_date=date(1941, 1, 20), code=code)
    assert activated.state == ACTIVE and activated.representative_id == FATIMA


def test_asking_with_a_wrong_birth_date_is_refused_without_a_letter(register: Register) -> None:
    with pytest.raises(RegisterError, match="cannot find"):
        register.ask(requester=FATIMA, represented_bsn=HENK, birth_date=date(1941, 1, 21),
                     services=[TOESLAGEN], days=365)
    assert register.letters_for(HENK) == []


def test_asking_with_a_bsn_failing_the_eleven_test_is_refused(register: Register) -> None:
    with pytest.raises(InputError, match="11-test"):
        register.ask(requester=FATIMA, represented_bsn="123456788",
                     birth_date=date(1941, 1, 20), services=[TOESLAGEN], days=365)


def test_represented_person_approves_a_request_in_the_portal(register: Register) -> None:
    mandate = register.ask(requester=FATIMA, represented_bsn=HENK,
                           birth_date=date(1941, 1, 20), services=[TOESLAGEN], days=365)
    with pytest.raises(RegisterError):
        register.approve(approver=PIETER, mandate_id=mandate.id)
    assert register.approve(approver=HENK, mandate_id=mandate.id).state == ACTIVE
    with pytest.raises(RegisterError, match="already"):
        register.approve(approver=HENK, mandate_id=mandate.id)


def test_either_side_revokes_and_it_is_no_longer_usable(register: Register) -> None:
    (seeded,) = [m for m in register.received_by("bsn", FATIMA) if m.kind == "voluntary"]
    assert register.usable("bsn", FATIMA, INKOMSTEN, ("voluntary",))
    revoked = register.revoke(actor=JAN, mandate_id=seeded.id, reason="niet meer nodig")
    assert revoked.state == REVOKED
    assert revoked.events[-1].actor == f"bsn:{JAN}" and revoked.events[-1].reason
    assert register.usable("bsn", FATIMA, INKOMSTEN, ("voluntary",)) == []
    with pytest.raises(RegisterError, match="already ended"):
        register.revoke(actor=FATIMA, mandate_id=seeded.id)


def test_a_stranger_cannot_revoke(register: Register) -> None:
    (seeded,) = [m for m in register.received_by("bsn", FATIMA) if m.kind == "voluntary"]
    with pytest.raises(RegisterError, match="does not exist"):
        register.revoke(actor=PIETER, mandate_id=seeded.id)
    assert db.session.get(Mandate, seeded.id).state == ACTIVE


def test_expired_mandate_is_unusable_and_recorded_as_expired(register: Register,
                                                             clock: Clock) -> None:
    clock.now += timedelta(days=366)
    assert register.usable("bsn", FATIMA, INKOMSTEN, ("voluntary",)) == []
    (mandate,) = [m for m in register.given_by("bsn", JAN)]
    assert mandate.state == EXPIRED and mandate.events[-1].actor == "system"


def test_parental_authority_ends_on_the_eighteenth_birthday(register: Register,
                                                            clock: Clock) -> None:
    assert register.usable("bsn", FATIMA, ZORG, ("legal",))
    clock.now = datetime(2032, 5, 5, 0, 0, tzinfo=UTC)
    assert register.usable("bsn", FATIMA, ZORG, ("legal",)) == []


def test_recorded_legal_representation_needs_a_court_reference_and_an_accepting_service(
        register: Register) -> None:
    with pytest.raises(RegisterError, match="reference"):
        register.record_legal(represented_bsn=JAN, representative_bsn=PIETER, role="curatele",
                              services=[INKOMSTEN], court_reference=" ", actor="admin:test")
    with pytest.raises(RegisterError, match="does not accept"):
        register.record_legal(represented_bsn=JAN, representative_bsn=PIETER, role="bewind",
                              services=[ZORG], court_reference="C/1", actor="admin:test")
    mandate = register.record_legal(represented_bsn=JAN, representative_bsn=PIETER,
                                    role="curatele", services=[INKOMSTEN, ZORG],
                                    court_reference="C/05/1", actor="admin:test")
    assert mandate.state == ACTIVE and mandate.events[0].reason == "C/05/1"


def test_history_is_only_ever_added_to(register: Register) -> None:
    before, mandates = _count(MandateEvent), _count(Mandate)
    mandate, code = register.give(giver=JAN, services=[INKOMSTEN], days=30)
    register.activate(activator=PIETER, represented_bsn=JAN, birth_date=JAN_BORN, code=code)
    register.revoke(actor=PIETER, mandate_id=mandate.id)
    assert _count(MandateEvent) == before + 3
    assert _count(Mandate) == mandates + 1  # none deleted
