"""The chain mandates plugin (ketenmachtiging): an intermediary's authorised employee is offered
the intermediary's clients, on the real SQLite register with the demo world seeded.

Demo world: the bakery gave the office (Administratiekantoor Telgen) a chain mandate for
Aangifte omzetbelasting; the office authorised ruben for it with the chain option.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select

from broker.context import BrokerContext
from broker.identity import Identity
from broker.identity import Link
from broker.identity import Party
from broker.mock_idp.pseudonyms import employee_pseudonym
from broker.pipeline import Option
from broker.pipeline import gather
from broker.register.models import ACTIVE
from broker.register.models import Mandate
from broker.register.models import MandateEvent
from plugins.chain_mandates import ChainMandatesPlugin
from plugins.eherkenning import EherkenningPlugin
from tests.fakes import Clock
from tests.plugins.support import BAKERY
from tests.plugins.support import BAKERY_NAME
from tests.plugins.support import BEA
from tests.plugins.support import EVA
from tests.plugins.support import LOONAANGIFTE
from tests.plugins.support import OFFICE
from tests.plugins.support import OFFICE_NAME
from tests.plugins.support import OMZET
from tests.plugins.support import RUBEN
from tests.plugins.support import SUBSIDIE
from tests.plugins.support import THIRD
from tests.plugins.support import THIRD_NAME
from tests.plugins.support import TINE
from tests.plugins.support import chain_mandate
from tests.plugins.support import company_mandate
from tests.plugins.support import employee_identity
from tests.plugins.support import organisations
from tests.plugins.support import set_chain_depth

TEUN = employee_pseudonym(THIRD, "teun")  # employee of the third company, not its signatory


@pytest.fixture
def plugin(context: BrokerContext) -> ChainMandatesPlugin:
    return ChainMandatesPlugin(name="keten", context=context)


def _options(plugin: ChainMandatesPlugin, context: BrokerContext, identity: Identity,
             service: str = OMZET, at: datetime | None = None) -> list[Option]:
    return plugin.options(identity, context.catalogue().get(service), at or context.clock())


def _keys(plugin: ChainMandatesPlugin, context: BrokerContext, kvk: str, username: str,
          service: str = OMZET, *, loa: str = "substantial",
          at: datetime | None = None) -> list[str]:
    """The keys of the options offered to ``username`` of ``kvk`` logged in for ``service``."""
    identity = employee_identity(kvk, username, service=service, loa=loa,
                                 at=at or context.clock())
    return [option.key for option in _options(plugin, context, identity, service, at)]


def _key(*kvks: str) -> str:
    return "/".join(f"kvk:{kvk}" for kvk in kvks)


def _write_chain(context: BrokerContext, client: str, intermediary: str, *,
                 services: Sequence[str] = (OMZET,), valid_from: datetime | None = None,
                 valid_until: datetime | None = None) -> Mandate:
    """A chain mandate written straight into the table, past the register's chain checks (as
    an old import or a hand edit might have left it)."""
    now = context.clock()
    mandate = Mandate(
        id=str(uuid.uuid4()), kind="chain", role=None, represented_type="kvk",
        represented_id=client, representative_type="kvk", representative_id=intermediary,
        services=list(services), loa=None, valid_from=valid_from or now,
        valid_until=valid_until, state=ACTIVE, court_reference=None, created_at=now, extra={})
    context.session().add(mandate)
    context.session().commit()
    return mandate


def _link(context: BrokerContext, kvk: str, name: str, mandate: Mandate) -> Link:
    return Link(party=Party(id=kvk, id_type="kvk", name=name), mandate_id=mandate.id,
                kind=mandate.kind, role=None, services=tuple(mandate.services))


def _history_size(context: BrokerContext) -> tuple[int, list[str]]:
    session = context.session()
    return (session.execute(select(func.count()).select_from(MandateEvent)).scalar_one(),
            list(session.execute(select(Mandate.state).order_by(Mandate.id)).scalars()))


# -- the demo world ---------------------------------------------------------------------------


def test_ruben_is_offered_the_bakery_through_the_office(
        plugin: ChainMandatesPlugin, context: BrokerContext, clock: Clock) -> None:
    options = _options(plugin, context, employee_identity(OFFICE, "ruben", at=clock.now))
    office = _link(context, OFFICE, OFFICE_NAME, company_mandate(context, OFFICE, RUBEN))
    bakery = _link(context, BAKERY, BAKERY_NAME, chain_mandate(context, BAKERY, OFFICE))
    assert options == [Option(links=(office, bakery), source="keten")]
    assert office.kind == "company" and bakery.kind == "chain"
    assert bakery.services == (OMZET,)
    assert options[0].key == _key(OFFICE, BAKERY)
    assert options[0].party == Party(id=BAKERY, id_type="kvk", name=BAKERY_NAME)


def test_with_the_eherkenning_plugin_ruben_chooses_between_the_office_and_the_bakery(
        plugin: ChainMandatesPlugin, context: BrokerContext, clock: Clock) -> None:
    company = EherkenningPlugin(name="bedrijf", context=context)
    identity = employee_identity(OFFICE, "ruben", at=clock.now)
    options = gather([company, plugin], identity, context.catalogue().get(OMZET), clock.now)
    assert [(o.key, o.source) for o in options] == [
        (_key(OFFICE), "bedrijf"), (_key(OFFICE, BAKERY), "keten")]


def test_eva_of_the_bakery_gets_no_chain_option(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    assert _keys(plugin, context, BAKERY, "eva") == []


def test_citizen_login_gets_no_chain_option(
        plugin: ChainMandatesPlugin, context: BrokerContext, clock: Clock) -> None:
    jan = Identity(acting=Party(id="999993653", id_type="bsn"), loa="substantial",
                   connector="digid", authn_instant=clock.now)
    assert _options(plugin, context, jan) == []


def test_asking_for_options_changes_nothing_in_the_register(
        plugin: ChainMandatesPlugin, context: BrokerContext, clock: Clock) -> None:
    organisations(context).give_chain(client=THIRD, intermediary=OFFICE, services=[OMZET],
                                      actor=TINE, valid_until=clock.now + timedelta(days=1))
    before = _history_size(context)
    _keys(plugin, context, OFFICE, "ruben", at=clock.now + timedelta(days=2))
    assert _history_size(context) == before  # the expired mandate is not recorded as expired


# -- the employee's own authorisation --------------------------------------------------------


def test_office_employee_without_the_chain_permission_gets_nothing(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    orgs = organisations(context)
    orgs.grant_company(kvk=OFFICE, employee=employee_pseudonym(OFFICE, "sanne"),
                       services=[OMZET], loa="substantial", chain=False, actor=RUBEN)
    orgs.grant_company(kvk=OFFICE, employee=employee_pseudonym(OFFICE, "joost"),
                       services=[OMZET], loa="substantial", chain=True, actor=RUBEN)
    assert _keys(plugin, context, OFFICE, "sanne") == []
    assert _keys(plugin, context, OFFICE, "joost") == [_key(OFFICE, BAKERY)]


def test_office_employee_without_any_authorisation_gets_nothing(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    assert _keys(plugin, context, OFFICE, "nobody") == []


def test_withdrawn_chain_permission_stops_every_chain(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    organisations(context).withdraw_company(
        kvk=OFFICE, mandate_id=company_mandate(context, OFFICE, RUBEN).id, actor=RUBEN)
    assert _keys(plugin, context, OFFICE, "ruben") == []


def test_chain_permission_of_another_organisation_does_not_count(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    """Ruben logging in for the third company (say, as its employee too) gets nothing from his
    chain permission at the office."""
    identity = employee_identity(OFFICE, "ruben", at=context.clock())
    for_third = Identity(acting=identity.acting, loa=identity.loa, connector=identity.connector,
                         authn_instant=identity.authn_instant,
                         organisation=Party(id=THIRD, id_type="kvk", name=THIRD_NAME),
                         attributes=identity.attributes)
    assert _options(plugin, context, for_third) == []


def test_login_below_the_level_of_the_authorisation_gets_nothing(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    assert _keys(plugin, context, OFFICE, "ruben", loa="low") == []
    assert _keys(plugin, context, OFFICE, "ruben", loa="high") == [_key(OFFICE, BAKERY)]
    authorisation = company_mandate(context, OFFICE, RUBEN)
    authorisation.loa = "high"
    context.session().commit()
    assert _keys(plugin, context, OFFICE, "ruben") == []


# -- the chain mandate -----------------------------------------------------------------------


@pytest.mark.parametrize("side", ["client", "intermediary"])
def test_revoked_chain_mandate_stops_the_offer(
        plugin: ChainMandatesPlugin, context: BrokerContext, side: str) -> None:
    actor = BEA if side == "client" else RUBEN
    organisations(context).revoke_chain(mandate_id=chain_mandate(context, BAKERY, OFFICE).id,
                                        actor=actor)
    assert _keys(plugin, context, OFFICE, "ruben") == []


def test_expired_chain_mandate_is_not_offered(
        plugin: ChainMandatesPlugin, context: BrokerContext, clock: Clock) -> None:
    until = clock.now + timedelta(days=30)
    organisations(context).give_chain(client=THIRD, intermediary=OFFICE, services=[OMZET],
                                      actor=TINE, valid_until=until)
    assert sorted(_keys(plugin, context, OFFICE, "ruben", at=until - timedelta(seconds=1))) == [
        _key(OFFICE, BAKERY), _key(OFFICE, THIRD)]
    assert _keys(plugin, context, OFFICE, "ruben", at=until) == [_key(OFFICE, BAKERY)]
    assert _keys(plugin, context, OFFICE, "ruben", at=until + timedelta(days=1)) == [
        _key(OFFICE, BAKERY)]


def test_chain_mandate_not_yet_valid_is_not_offered(
        plugin: ChainMandatesPlugin, context: BrokerContext, clock: Clock) -> None:
    starts = clock.now + timedelta(days=1)
    _write_chain(context, THIRD, OFFICE, valid_from=starts)
    assert _keys(plugin, context, OFFICE, "ruben") == [_key(OFFICE, BAKERY)]
    assert sorted(_keys(plugin, context, OFFICE, "ruben", at=starts)) == [
        _key(OFFICE, BAKERY), _key(OFFICE, THIRD)]


def test_chain_mandate_for_another_service_offers_nothing_for_this_one(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    """Ruben is authorised (with chains) for Loonaangifte too; the bakery's chain mandate is
    for Aangifte omzetbelasting only."""
    authorisation = company_mandate(context, OFFICE, RUBEN)
    authorisation.services = [OMZET, LOONAANGIFTE]
    context.session().commit()
    assert _keys(plugin, context, OFFICE, "ruben", LOONAANGIFTE) == []
    assert _keys(plugin, context, OFFICE, "ruben", OMZET) == [_key(OFFICE, BAKERY)]


def test_employee_not_authorised_for_the_service_gets_nothing(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    """The bakery's chain mandate covers Loonaangifte too; ruben's authorisation does not."""
    organisations(context).give_chain(client=BAKERY, intermediary=OFFICE,
                                      services=[LOONAANGIFTE], actor=BEA)
    assert _keys(plugin, context, OFFICE, "ruben", LOONAANGIFTE) == []


def test_service_that_does_not_accept_chains_gets_nothing(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    """Even with mandates that name it (written past the register's service check)."""
    authorisation = company_mandate(context, OFFICE, RUBEN)
    authorisation.services = [OMZET, SUBSIDIE]
    context.session().commit()
    _write_chain(context, THIRD, OFFICE, services=[SUBSIDIE])
    assert _keys(plugin, context, OFFICE, "ruben", SUBSIDIE) == []


# -- chains with more intermediaries ---------------------------------------------------------


def _two_intermediaries(context: BrokerContext) -> None:
    """bakery → office → third, with teun of the third company authorised with chains; made
    through the register with chain_depth 2."""
    set_chain_depth(context, 2)
    orgs = organisations(context)
    orgs.give_chain(client=OFFICE, intermediary=THIRD, services=[OMZET], actor=RUBEN)
    orgs.grant_company(kvk=THIRD, employee=TEUN, services=[OMZET], loa="substantial",
                       chain=True, actor=TINE)


def test_chain_depth_2_offers_the_client_through_both_intermediaries_in_order(
        plugin: ChainMandatesPlugin, context: BrokerContext, clock: Clock) -> None:
    _two_intermediaries(context)
    options = _options(plugin, context, employee_identity(THIRD, "teun", at=clock.now))
    third = _link(context, THIRD, THIRD_NAME, company_mandate(context, THIRD, TEUN))
    office = _link(context, OFFICE, OFFICE_NAME, chain_mandate(context, OFFICE, THIRD))
    bakery = _link(context, BAKERY, BAKERY_NAME, chain_mandate(context, BAKERY, OFFICE))
    assert sorted(options, key=lambda o: o.key) == [
        Option(links=(third, office), source="keten"),
        Option(links=(third, office, bakery), source="keten"),
    ]


def test_chain_depth_lowered_to_1_offers_only_the_direct_client(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    _two_intermediaries(context)
    set_chain_depth(context, 1)
    assert _keys(plugin, context, THIRD, "teun") == [_key(THIRD, OFFICE)]
    assert _keys(plugin, context, OFFICE, "ruben") == [_key(OFFICE, BAKERY)]


def test_revoked_middle_link_stops_the_whole_chain_beyond_it(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    _two_intermediaries(context)
    organisations(context).revoke_chain(mandate_id=chain_mandate(context, OFFICE, THIRD).id,
                                        actor=TINE)
    assert _keys(plugin, context, THIRD, "teun") == []


def test_revoked_far_link_leaves_the_near_client(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    _two_intermediaries(context)
    organisations(context).revoke_chain(mandate_id=chain_mandate(context, BAKERY, OFFICE).id,
                                        actor=BEA)
    assert _keys(plugin, context, THIRD, "teun") == [_key(THIRD, OFFICE)]


# -- data the register would have refused ----------------------------------------------------


@pytest.mark.parametrize("depth", [3, 50])
def test_cycle_in_the_data_ends_and_offers_nothing_twice(
        plugin: ChainMandatesPlugin, context: BrokerContext, depth: int) -> None:
    """bakery → office (seed), office → third and third → bakery written straight into the
    table: a loop. 50 is past what the configuration allows: the loop, not the depth, ends it."""
    _write_chain(context, OFFICE, THIRD)
    _write_chain(context, THIRD, BAKERY)
    set_chain_depth(context, depth)
    options = _options(plugin, context, employee_identity(OFFICE, "ruben", at=context.clock()))
    keys = [option.key for option in options]
    assert sorted(keys) == [_key(OFFICE, BAKERY), _key(OFFICE, BAKERY, THIRD)]
    for option in options:
        parties = [link.party.id for link in option.links]
        assert len(parties) == len(set(parties))


def test_two_way_chain_mandates_offer_each_side_the_other_once(
        plugin: ChainMandatesPlugin, context: BrokerContext) -> None:
    _write_chain(context, OFFICE, BAKERY)
    set_chain_depth(context, 3)
    organisations(context).grant_company(kvk=BAKERY, employee=EVA, services=[OMZET],
                                         loa="substantial", chain=True, actor=BEA)
    assert _keys(plugin, context, OFFICE, "ruben") == [_key(OFFICE, BAKERY)]
    assert _keys(plugin, context, BAKERY, "eva") == [_key(BAKERY, OFFICE)]
