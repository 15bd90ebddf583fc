"""Organisations in the register: employees' authorisations, administrators, chain mandates.

Every refusal is checked to change nothing.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select

from broker.clock import aware
from broker.context import service_from_record
from broker.db import ServiceRecord
from broker.demo.seed import seed
from broker.mock_idp.pseudonyms import employee_pseudonym
from broker.register.models import ACTIVE
from broker.register.models import EXPIRED
from broker.register.models import MACHTIGINGENBEHEERDER
from broker.register.models import REVOKED
from broker.register.models import TEKENBEVOEGDE
from broker.register.models import Mandate
from broker.register.models import MandateEvent
from broker.register.models import Organisation
from broker.register.models import OrganisationRole
from broker.register.organisations import Organisations
from broker.register.service import Limits
from broker.register.service import RegisterError
from broker.services import ServiceCatalogue
from broker.web.database import db
from tests.fakes import Clock

BAKERY, OFFICE, THIRD, FOURTH, BROKEN = "10000001", "20000002", "30000003", "40000004", "50000005"
BAKERY_RSIN = "999990172"
OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"
SUBSIDIE = "0d5c8a64-7f0e-5d51-9a38-0a3b7f6f2c01"  # accepts company, not chain
LOONAANGIFTE = "6a1f1c52-3b6e-5c8e-8d1a-58f5d0f0e7a2"  # company and chain, at EH2
EVA, BEA, RUBEN = (employee_pseudonym(BAKERY, "eva"), employee_pseudonym(BAKERY, "beheer"),
                   employee_pseudonym(OFFICE, "ruben"))
TINE, FRITS = employee_pseudonym(THIRD, "tine"), employee_pseudonym(FOURTH, "frits")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make(database: Any, clock: Clock) -> Callable[[int], Organisations]:
    """Organisations over the demo world plus two more companies and two more services."""
    seed(database, now=clock.now)
    database.add_all([
        ServiceRecord(uuid=SUBSIDIE, name="Subsidie", via="eherkenning", min_loa="substantial",
                      accepts=["company"], allows_self=False),
        ServiceRecord(uuid=LOONAANGIFTE, name="Loonaangifte", via="eherkenning", min_loa="low",
                      accepts=["company", "chain"], allows_self=False),
        Organisation(kvk=THIRD, rsin="999990202", name="Derde B.V.", branch=None),
        Organisation(kvk=FOURTH, rsin="999990214", name="Vierde B.V.", branch=None),
        Organisation(kvk=BROKEN, rsin="123456789", name="Kapot B.V.", branch=None),
        OrganisationRole(kvk=THIRD, pseudonym=TINE, role=TEKENBEVOEGDE, appointed_by="system",
                         appointed_at=clock.now),
        OrganisationRole(kvk=FOURTH, pseudonym=FRITS, role=TEKENBEVOEGDE, appointed_by="system",
                         appointed_at=clock.now),
    ])
    database.commit()

    def build(chain_depth: int = 1) -> Organisations:
        catalogue = ServiceCatalogue([service_from_record(r) for r in database.query(ServiceRecord)])
        return Organisations(database, catalogue, clock=clock, limits=Limits(chain_depth=chain_depth))
    return build


@pytest.fixture
def orgs(make: Callable[[int], Organisations]) -> Organisations:
    return make(1)


def _count(model: type) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def _snapshot() -> tuple[int, int, int, list[str]]:
    states = list(db.session.execute(select(Mandate.state).order_by(Mandate.id)).scalars())
    return _count(Mandate), _count(MandateEvent), _count(OrganisationRole), states


def _refused(operation: Callable[[], Any], words: str) -> None:
    """``operation`` is refused with a message containing ``words`` and changes nothing."""
    before = _snapshot()
    with pytest.raises(RegisterError, match=words):
        operation()
    db.session.rollback()
    assert _snapshot() == before


def _chain(client: str, intermediary: str) -> Mandate:
    return db.session.execute(select(Mandate).where(
        Mandate.kind == "chain", Mandate.represented_id == client,
        Mandate.representative_id == intermediary)).scalar_one()


# -- the trade register ----------------------------------------------------------------------


def test_organisation_found_by_kvk_number_typed_with_spaces(orgs: Organisations) -> None:
    assert orgs.organisation(" 1000 0001 ").name == "Bakkerij De Korenaar B.V."


@pytest.mark.parametrize("typed", ["1000001", "100000011", "1000000a", "１０００００００", ""])
def test_organisation_with_malformed_kvk_number_is_refused(orgs: Organisations, typed: str) -> None:
    with pytest.raises(RegisterError, match="precies 8 cijfers"):
        orgs.organisation(typed)


def test_organisation_not_in_trade_register_is_refused(orgs: Organisations) -> None:
    with pytest.raises(RegisterError, match="niet in het Handelsregister"):
        orgs.organisation("99999999")


def test_organisation_with_rsin_failing_eleven_test_is_refused(orgs: Organisations) -> None:
    with pytest.raises(RegisterError, match="RSIN"):
        orgs.organisation(BROKEN)


# -- administrators --------------------------------------------------------------------------


def test_is_administrator_for_signatory_and_appointed_administrator_only(
        orgs: Organisations) -> None:
    assert orgs.is_administrator(OFFICE, RUBEN)
    assert orgs.is_administrator(BAKERY, BEA)
    assert not orgs.is_administrator(BAKERY, EVA)
    assert not orgs.is_administrator(BAKERY, RUBEN)
    assert not orgs.is_administrator(BAKERY, "")


def test_administrator_appoints_employee_who_then_administers(orgs: Organisations,
                                                              clock: Clock) -> None:
    role = orgs.appoint_administrator(kvk=BAKERY, pseudonym=EVA, actor=BEA)
    assert (role.role, role.appointed_by, aware(role.appointed_at)) == (MACHTIGINGENBEHEERDER, BEA,
                                                                 clock.now)
    assert orgs.is_administrator(BAKERY, EVA)


def test_ended_administrator_no_longer_administers(orgs: Organisations, clock: Clock) -> None:
    role = orgs.appoint_administrator(kvk=BAKERY, pseudonym=EVA, actor=BEA)
    ended = orgs.end_administrator(kvk=BAKERY, role_id=role.id, actor=BEA)
    assert ended.ended_at is not None
    assert not orgs.is_administrator(BAKERY, EVA)
    assert _count(OrganisationRole) >= 2  # ended, never deleted


@pytest.mark.parametrize(("kvk", "pseudonym", "actor", "words"), [
    (BAKERY, EVA, EVA, "Alleen een tekenbevoegde"),
    (BAKERY, EVA, RUBEN, "Alleen een tekenbevoegde"),
    (BAKERY, BEA, BEA, "uzelf niet aanwijzen"),
    (OFFICE, RUBEN, TINE, "Alleen een tekenbevoegde"),
    (BAKERY, "  ", BEA, "Kies een medewerker"),
    ("1234", EVA, BEA, "precies 8 cijfers"),
])
def test_appoint_administrator_refusals_change_nothing(
        orgs: Organisations, kvk: str, pseudonym: str, actor: str, words: str) -> None:
    _refused(lambda: orgs.appoint_administrator(kvk=kvk, pseudonym=pseudonym, actor=actor), words)


def test_appoint_someone_already_administrator_is_refused(orgs: Organisations) -> None:
    orgs.appoint_administrator(kvk=BAKERY, pseudonym=EVA, actor=BEA)
    _refused(lambda: orgs.appoint_administrator(kvk=BAKERY, pseudonym=EVA, actor=BEA),
             "al beheerder")


def test_end_administrator_refusals_change_nothing(orgs: Organisations) -> None:
    signatory = db.session.execute(select(OrganisationRole).where(
        OrganisationRole.pseudonym == RUBEN)).scalar_one()
    bea = db.session.execute(select(OrganisationRole).where(
        OrganisationRole.pseudonym == BEA)).scalar_one()
    _refused(lambda: orgs.end_administrator(kvk=OFFICE, role_id=signatory.id, actor=RUBEN),
             "Handelsregister")
    _refused(lambda: orgs.end_administrator(kvk=OFFICE, role_id=bea.id, actor=RUBEN),
             "bestaat niet")
    _refused(lambda: orgs.end_administrator(kvk=BAKERY, role_id=bea.id, actor=EVA),
             "Alleen een tekenbevoegde")
    orgs.end_administrator(kvk=BAKERY, role_id=bea.id, actor=BEA)
    _refused(lambda: orgs.end_administrator(kvk=BAKERY, role_id=bea.id, actor=BEA),
             "Alleen een tekenbevoegde")


# -- company authorisations ------------------------------------------------------------------


def test_administrator_grants_employee_authorisation_with_chain_option(orgs: Organisations,
                                                                       clock: Clock) -> None:
    mandate = orgs.grant_company(kvk=BAKERY, employee=EVA, services=[LOONAANGIFTE], loa="low",
                                 chain=True, actor=BEA, branch="0000 1000 0001")
    assert (mandate.kind, mandate.state, mandate.loa) == ("company", ACTIVE, "low")
    assert (mandate.represented_type, mandate.represented_id) == ("kvk", BAKERY)
    assert (mandate.representative_type, mandate.representative_id) == ("pseudonym", EVA)
    assert mandate.extra == {"chain": True, "branch": "000010000001"}
    [event] = mandate.events
    assert (event.actor, event.action, event.to_state, aware(event.at)) == (
        f"eh:{BEA}", "granted", ACTIVE, clock.now)


def test_grant_without_chain_option_leaves_chain_out(orgs: Organisations) -> None:
    mandate = orgs.grant_company(kvk=BAKERY, employee=EVA, services=[SUBSIDIE],
                                 loa="substantial", chain=False, actor=BEA)
    assert mandate.extra == {}


@pytest.mark.parametrize(("changes", "words"), [
    ({"actor": EVA}, "Alleen een tekenbevoegde"),
    ({"actor": RUBEN}, "Alleen een tekenbevoegde"),
    ({"employee": BEA}, "uzelf niet machtigen"),
    ({"employee": " "}, "Kies een medewerker"),
    ({"services": []}, "ten minste één dienst"),
    ({"services": ["00000000-0000-5000-8000-000000000000"]}, "Onbekende dienst"),
    ({"services": [INKOMSTEN]}, "Inkomstenbelasting"),
    ({"services": [SUBSIDIE]}, "Subsidie"),  # chain=True, but Subsidie takes no chains
    ({"loa": "medium"}, "betrouwbaarheidsniveau"),
    ({"loa": "basic"}, "betrouwbaarheidsniveau"),
    ({"loa": "low"}, "hoger betrouwbaarheidsniveau"),
    ({"branch": "00001000000"}, "12 cijfers"),
    ({"branch": "000020000002"}, "hoort niet bij"),
    ({"kvk": "99999999"}, "niet in het Handelsregister"),
])
def test_grant_company_refusals_change_nothing(orgs: Organisations, changes: dict[str, Any],
                                               words: str) -> None:
    arguments: dict[str, Any] = {"kvk": BAKERY, "employee": EVA, "services": [OMZET],
                                 "loa": "substantial", "chain": True, "actor": BEA} | changes
    _refused(lambda: orgs.grant_company(**arguments), words)


def test_grant_with_end_date_in_the_past_is_refused(orgs: Organisations, clock: Clock) -> None:
    _refused(lambda: orgs.grant_company(kvk=BAKERY, employee=EVA, services=[OMZET],
                                        loa="substantial", chain=False, actor=BEA,
                                        valid_until=clock.now - timedelta(days=1)), "verleden")


def test_administrator_withdraws_authorisation_with_history(orgs: Organisations) -> None:
    mandate = orgs.grant_company(kvk=BAKERY, employee=EVA, services=[OMZET], loa="high",
                                 chain=False, actor=BEA)
    withdrawn = orgs.withdraw_company(kvk=BAKERY, mandate_id=mandate.id, actor=BEA,
                                      reason="uit dienst")
    assert withdrawn.state == REVOKED
    assert [(e.action, e.from_state, e.to_state, e.reason) for e in withdrawn.events] == [
        ("granted", None, ACTIVE, None), ("revoked", ACTIVE, REVOKED, "uit dienst")]


def test_withdraw_company_refusals_change_nothing(orgs: Organisations) -> None:
    mandate = orgs.grant_company(kvk=BAKERY, employee=EVA, services=[OMZET], loa="high",
                                 chain=False, actor=BEA)
    chain = _chain(BAKERY, OFFICE)
    _refused(lambda: orgs.withdraw_company(kvk=BAKERY, mandate_id=mandate.id, actor=EVA),
             "Alleen een tekenbevoegde")
    _refused(lambda: orgs.withdraw_company(kvk=OFFICE, mandate_id=mandate.id, actor=RUBEN),
             "bestaat niet")
    _refused(lambda: orgs.withdraw_company(kvk=BAKERY, mandate_id=chain.id, actor=BEA),
             "bestaat niet")
    _refused(lambda: orgs.withdraw_company(kvk=BAKERY, mandate_id="nope", actor=BEA),
             "bestaat niet")
    orgs.withdraw_company(kvk=BAKERY, mandate_id=mandate.id, actor=BEA)
    _refused(lambda: orgs.withdraw_company(kvk=BAKERY, mandate_id=mandate.id, actor=BEA),
             "al beëindigd")


# -- chain mandates --------------------------------------------------------------------------


def test_client_gives_intermediary_chain_mandate_by_typed_kvk(orgs: Organisations) -> None:
    mandate = orgs.give_chain(client=THIRD, intermediary=" 2000.0002 ", services=[OMZET],
                              actor=TINE)
    assert (mandate.kind, mandate.state, mandate.loa) == ("chain", ACTIVE, None)
    assert (mandate.represented_type, mandate.represented_id) == ("kvk", THIRD)
    assert (mandate.representative_type, mandate.representative_id) == ("kvk", OFFICE)
    assert [(e.actor, e.action) for e in mandate.events] == [(f"eh:{TINE}", "given")]


@pytest.mark.parametrize(("changes", "words"), [
    ({"actor": EVA}, "Alleen een tekenbevoegde"),
    ({"actor": RUBEN}, "Alleen een tekenbevoegde"),
    ({"intermediary": THIRD}, "zichzelf"),
    ({"intermediary": "3000000"}, "precies 8 cijfers"),
    ({"intermediary": "99999999"}, "niet in het Handelsregister"),
    ({"intermediary": BROKEN}, "RSIN"),
    ({"services": []}, "ten minste één dienst"),
    ({"services": [SUBSIDIE]}, "Subsidie"),
    ({"services": [INKOMSTEN]}, "Inkomstenbelasting"),
    ({"branch": "12"}, "12 cijfers"),
])
def test_give_chain_refusals_change_nothing(orgs: Organisations, changes: dict[str, Any],
                                            words: str) -> None:
    arguments: dict[str, Any] = {"client": THIRD, "intermediary": FOURTH, "services": [OMZET],
                                 "actor": TINE} | changes
    _refused(lambda: orgs.give_chain(**arguments), words)


def test_chain_back_to_the_client_is_refused_as_a_loop(orgs: Organisations) -> None:
    # the bakery already mandates the office; the office mandating the bakery closes a loop
    _refused(lambda: orgs.give_chain(client=OFFICE, intermediary=BAKERY, services=[OMZET],
                                     actor=RUBEN), "kring")


def test_chain_to_an_intermediary_that_already_represents_the_client_is_refused(
        orgs: Organisations) -> None:
    _refused(lambda: orgs.give_chain(client=BAKERY, intermediary=OFFICE, services=[OMZET],
                                     actor=BEA), "vertegenwoordigt .* al voor deze dienst")


def test_loop_through_two_intermediaries_is_refused(
        make: Callable[[int], Organisations]) -> None:
    orgs = make(2)
    orgs.give_chain(client=THIRD, intermediary=BAKERY, services=[OMZET], actor=TINE)
    # third → bakery → office: the office mandating the third would close the circle
    _refused(lambda: orgs.give_chain(client=OFFICE, intermediary=THIRD, services=[OMZET],
                                     actor=RUBEN), "kring")
    # and the third cannot add a shortcut to the office, which already represents it
    _refused(lambda: orgs.give_chain(client=THIRD, intermediary=OFFICE, services=[OMZET],
                                     actor=TINE), "al voor deze dienst")


def test_chain_deeper_than_one_intermediary_is_refused_at_depth_one(
        orgs: Organisations) -> None:
    # upstream: third → bakery → office would put two intermediaries before the third
    _refused(lambda: orgs.give_chain(client=THIRD, intermediary=BAKERY, services=[OMZET],
                                     actor=TINE), "2 intermediairs; hier zijn er hoogstens 1")
    # downstream: bakery → office → fourth likewise
    _refused(lambda: orgs.give_chain(client=OFFICE, intermediary=FOURTH, services=[OMZET],
                                     actor=RUBEN), "2 intermediairs")


def test_two_intermediaries_allowed_at_depth_two_but_not_three(
        make: Callable[[int], Organisations]) -> None:
    orgs = make(2)
    orgs.give_chain(client=THIRD, intermediary=BAKERY, services=[OMZET], actor=TINE)
    _refused(lambda: orgs.give_chain(client=FOURTH, intermediary=THIRD, services=[OMZET],
                                     actor=FRITS), "3 intermediairs; hier zijn er hoogstens 2")
    _refused(lambda: orgs.give_chain(client=OFFICE, intermediary=FOURTH, services=[OMZET],
                                     actor=RUBEN), "3 intermediairs")


def test_depth_counts_per_service_and_ignores_revoked_links(orgs: Organisations) -> None:
    # the bakery → office mandate covers Omzetbelasting only: Loonaangifte has no chain yet
    orgs.give_chain(client=THIRD, intermediary=BAKERY, services=[LOONAANGIFTE], actor=TINE)
    orgs.revoke_chain(mandate_id=_chain(BAKERY, OFFICE).id, actor=BEA)
    assert orgs.give_chain(client=FOURTH, intermediary=BAKERY, services=[OMZET],
                           actor=FRITS).state == ACTIVE


def test_either_side_revokes_a_chain_mandate(orgs: Organisations) -> None:
    by_client = orgs.revoke_chain(mandate_id=_chain(BAKERY, OFFICE).id, actor=BEA)
    assert by_client.state == REVOKED
    given = orgs.give_chain(client=THIRD, intermediary=OFFICE, services=[OMZET], actor=TINE)
    by_intermediary = orgs.revoke_chain(mandate_id=given.id, actor=RUBEN, reason="opgezegd")
    assert by_intermediary.state == REVOKED
    assert by_intermediary.events[-1].actor == f"eh:{RUBEN}"
    assert by_intermediary.events[-1].reason == "opgezegd"


def test_revoke_chain_refusals_change_nothing(orgs: Organisations) -> None:
    mandate = _chain(BAKERY, OFFICE)
    company = orgs.grant_company(kvk=BAKERY, employee=EVA, services=[OMZET], loa="high",
                                 chain=False, actor=BEA)
    _refused(lambda: orgs.revoke_chain(mandate_id=mandate.id, actor=EVA), "bestaat niet")
    _refused(lambda: orgs.revoke_chain(mandate_id=mandate.id, actor=TINE), "bestaat niet")
    _refused(lambda: orgs.revoke_chain(mandate_id=company.id, actor=BEA), "bestaat niet")
    orgs.revoke_chain(mandate_id=mandate.id, actor=RUBEN)
    _refused(lambda: orgs.revoke_chain(mandate_id=mandate.id, actor=BEA), "al beëindigd")


# -- listings --------------------------------------------------------------------------------


def test_given_by_organisation_includes_mandates_registered_on_its_rsin(
        orgs: Organisations, clock: Clock) -> None:
    on_rsin = Mandate(id="on-rsin", kind="chain", represented_type="rsin",
                      represented_id=BAKERY_RSIN, representative_type="kvk",
                      representative_id=THIRD, services=[OMZET], valid_from=clock.now,
                      state=ACTIVE, extra={})
    db.session.add(on_rsin)
    db.session.commit()
    given = orgs.given_by_organisation(BAKERY)
    assert {(m.kind, m.representative_id) for m in given} == {
        ("company", EVA), ("chain", OFFICE), ("chain", THIRD)}
    assert [m.id for m in orgs.received_by_organisation(THIRD)] == ["on-rsin"]


def test_received_and_clients_of_intermediary_leave_out_ended_chains(
        orgs: Organisations, clock: Clock) -> None:
    third = orgs.give_chain(client=THIRD, intermediary=OFFICE, services=[OMZET], actor=TINE,
                            valid_until=clock.now + timedelta(days=1))
    assert {m.represented_id for m in orgs.clients_of_intermediary(OFFICE)} == {BAKERY, THIRD}
    orgs.revoke_chain(mandate_id=_chain(BAKERY, OFFICE).id, actor=BEA)
    clock.now += timedelta(days=2)
    assert orgs.clients_of_intermediary(OFFICE) == []
    received = {m.represented_id: m.state for m in orgs.received_by_organisation(OFFICE)}
    assert received == {BAKERY: REVOKED, THIRD: EXPIRED}
    assert third.events[-1].action == "expired"
