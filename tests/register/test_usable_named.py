"""The chooser's lookup: a representative's usable mandates, each with the represented party's
name from the population or trade register in the same query."""

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from broker.demo.seed import seed
from broker.identity import Identity
from broker.identity import Party
from broker.pipeline import Option
from broker.pipeline import gather
from broker.register.lookup import usable_mandates
from broker.register.lookup import usable_named
from broker.register.models import ACTIVE
from broker.register.models import REVOKED
from broker.register.models import Mandate
from broker.services import Service
from tests.fakes import Clock
from tests.services import statements

JAN, FATIMA, NOOR = "999993653", "999990676", "999990019"
BAKERY, OFFICE, UNKNOWN_KVK = "10000001", "20000002", "30000003"
INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"
ZORG = "e00bfadf-3129-5f5d-88eb-63e4ca833c5d"
OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
NOBODY_BSN = "999990031"  # passes the 11-test; not in the demo's population register
_IDENTITY = Identity(acting=Party(id=FATIMA, id_type="bsn"), loa="substantial",
                     connector="digid", authn_instant=Clock().now)
_SERVICE = Service(uuid=OMZET, name="Aangifte omzetbelasting", via="eherkenning",
                   min_loa="substantial", accepts=("company", "chain"), allows_self=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def session(database: Any, clock: Clock) -> Any:
    seed(database, now=clock.now)
    return database


def _add(session: Any, clock: Clock, *, kind: str, represented: tuple[str, str],
         representative: tuple[str, str], services: list[str], state: str = ACTIVE,
         role: str | None = None) -> Mandate:
    mandate = Mandate(
        id=str(uuid.uuid4()), kind=kind, role=role, represented_type=represented[0],
        represented_id=represented[1], representative_type=representative[0],
        representative_id=representative[1], services=services,
        valid_from=clock.now - timedelta(days=1), valid_until=None, state=state,
        created_at=clock.now, extra={})
    session.add(mandate)
    session.commit()
    return mandate


def _named(session: Any, clock: Clock, party: tuple[str, str], service: str,
           kinds: tuple[str, ...], represented_type: str) -> list[tuple[str, str | None]]:
    found = usable_named(session, *party, service, kinds, clock.now,
                         represented_type=represented_type)
    assert [m.id for m in found] == [m.id for m in usable_mandates(
        session, *party, service, kinds, clock.now)]
    return sorted((mandate.represented_id, mandate.name) for mandate in found)


def test_citizens_come_with_their_names_from_the_population_register(session: Any,
                                                                      clock: Clock) -> None:
    assert _named(session, clock, ("bsn", FATIMA), INKOMSTEN, ("voluntary",), "bsn") == [
        (JAN, "Jan Jansen")]
    assert _named(session, clock, ("bsn", FATIMA), ZORG, ("legal",), "bsn") == [
        (NOOR, "Noor El Amrani")]


def test_a_party_missing_from_its_register_has_no_name(session: Any, clock: Clock) -> None:
    _add(session, clock, kind="voluntary", represented=("bsn", NOBODY_BSN),
         representative=("bsn", FATIMA), services=[INKOMSTEN])
    _add(session, clock, kind="chain", represented=("kvk", UNKNOWN_KVK),
         representative=("kvk", OFFICE), services=[OMZET])
    assert _named(session, clock, ("bsn", FATIMA), INKOMSTEN, ("voluntary",), "bsn") == [
        (NOBODY_BSN, None), (JAN, "Jan Jansen")]
    assert _named(session, clock, ("kvk", OFFICE), OMZET, ("chain",), "kvk") == [
        (BAKERY, "Bakkerij De Korenaar B.V."), (UNKNOWN_KVK, None)]


def test_only_the_named_kind_of_party_is_looked_up(session: Any, clock: Clock) -> None:
    """A KvK number is never named from the population register, nor a BSN from the trade
    register, even where the same text is in both."""
    assert _named(session, clock, ("kvk", OFFICE), OMZET, ("chain",), "bsn") == [
        (BAKERY, None)]
    assert _named(session, clock, ("bsn", FATIMA), INKOMSTEN, ("voluntary",), "kvk") == [
        (JAN, None)]


def test_what_is_not_usable_is_left_out(session: Any, clock: Clock) -> None:
    _add(session, clock, kind="voluntary", represented=("bsn", NOOR),
         representative=("bsn", FATIMA), services=[INKOMSTEN], state=REVOKED)
    _add(session, clock, kind="voluntary", represented=("bsn", NOOR),
         representative=("bsn", FATIMA), services=[ZORG])
    assert _named(session, clock, ("bsn", FATIMA), INKOMSTEN, ("voluntary",), "bsn") == [
        (JAN, "Jan Jansen")]
    assert _named(session, clock, ("bsn", FATIMA), INKOMSTEN, ("legal",), "bsn") == []
    clock.now += timedelta(days=400)  # the seeded mandate was given for a year
    assert _named(session, clock, ("bsn", FATIMA), INKOMSTEN, ("voluntary",), "bsn") == []


def test_only_the_kinds_asked_for_are_returned_though_the_statement_reads_all(
        session: Any, clock: Clock) -> None:
    _add(session, clock, kind="legal", role="bewind", represented=("bsn", NOOR),
         representative=("bsn", FATIMA), services=[INKOMSTEN])
    assert _named(session, clock, ("bsn", FATIMA), INKOMSTEN, ("voluntary",), "bsn") == [
        (JAN, "Jan Jansen")]
    assert _named(session, clock, ("bsn", FATIMA), INKOMSTEN, ("legal",), "bsn") == [
        (NOOR, "Noor El Amrani")]
    assert _named(session, clock, ("bsn", FATIMA), INKOMSTEN, ("voluntary", "legal"),
                  "bsn") == [(NOOR, "Noor El Amrani"), (JAN, "Jan Jansen")]


class _Asker:
    """A mandate source that only asks the register, as a plugin would, and keeps the answers."""

    name = "asker"

    def __init__(self, session: Any, asks: list[tuple[tuple[str, str], str, tuple[str, ...],
                                                     tuple[tuple[str, str], ...]]]) -> None:
        self._session, self._asks = session, asks
        self.answers: list[list[str]] = []

    def options(self, identity: Any, service: Any, now: Any) -> list[Option]:
        for party, service_uuid, kinds, also in self._asks:
            self.answers.append(sorted(m.represented_id for m in usable_named(
                self._session, *party, service_uuid, kinds, now, represented_type="kvk",
                also=also)))
        return []


@pytest.fixture
def mandate_queries(session: Any) -> Iterator[list[str]]:
    """The statements on the mandate table run while the test runs."""
    with statements(session.get_bind(), "FROM mandate") as seen:
        yield seen


def test_others_asked_for_in_advance_come_in_the_same_statement_each_with_their_own(
        session: Any, clock: Clock, mandate_queries: list[str]) -> None:
    """The office's clients come with the employee's authorisations; the statement asks for
    either type with either id, and what is held under one party's type with the other's id
    (here by "pseudonym" OFFICE and by "kvk" ruben) belongs to neither."""
    ruben = session.execute(select(Mandate.representative_id).where(
        Mandate.kind == "company", Mandate.represented_id == OFFICE)).scalar_one()
    _add(session, clock, kind="company", represented=("kvk", UNKNOWN_KVK),
         representative=("pseudonym", OFFICE), services=[OMZET])
    _add(session, clock, kind="chain", represented=("kvk", UNKNOWN_KVK),
         representative=("kvk", ruben), services=[OMZET])
    asker = _Asker(session, [(("pseudonym", ruben), OMZET, ("company",), (("kvk", OFFICE),)),
                             (("kvk", OFFICE), OMZET, ("chain",), ())])
    mandate_queries.clear()
    gather([asker], _IDENTITY, _SERVICE, clock.now)
    assert asker.answers == [[OFFICE], [BAKERY]]
    assert len(mandate_queries) == 1


def test_outside_a_lookup_nothing_is_kept_nor_read_in_advance(
        session: Any, clock: Clock, mandate_queries: list[str]) -> None:
    asker = _Asker(session, [(("kvk", OFFICE), OMZET, ("chain",), (("bsn", FATIMA),))] * 2)
    asker.options(_IDENTITY, _SERVICE, clock.now)
    assert asker.answers == [[BAKERY], [BAKERY]]
    assert len(mandate_queries) == 2
