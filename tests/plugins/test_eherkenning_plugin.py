"""The eHerkenning plugin: the company an eHerkenning login vouched for, as the one option.

The plugin trusts the upstream mandate register (for the demo: mock eHerkenning over the
broker's register), so withdrawals and levels are enforced by the upstream refusing the login;
the tests marked "upstream" run the mock's own register check (:func:`upstream_login`) first.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from broker.context import BrokerContext
from broker.identity import Identity
from broker.identity import Link
from broker.identity import Party
from broker.pipeline import Option
from broker.services import Service
from plugins.eherkenning import EherkenningPlugin
from plugins.eherkenning.plugin import MANDATE_PREFIX
from tests.fakes import Clock
from tests.plugins.support import BAKERY
from tests.plugins.support import BAKERY_NAME
from tests.plugins.support import BAKERY_RSIN
from tests.plugins.support import BEA
from tests.plugins.support import EVA
from tests.plugins.support import INKOMSTEN
from tests.plugins.support import OFFICE
from tests.plugins.support import OMZET
from tests.plugins.support import SUBSIDIE
from tests.plugins.support import company_mandate
from tests.plugins.support import employee_identity
from tests.plugins.support import organisations
from tests.plugins.support import upstream_login


@pytest.fixture
def plugin(context: BrokerContext) -> EherkenningPlugin:
    return EherkenningPlugin(name="bedrijf", context=context)


def _service(context: BrokerContext, uuid: str) -> Service:
    return context.catalogue().get(uuid)


def _options(plugin: EherkenningPlugin, context: BrokerContext, identity: Identity,
             service: str = OMZET) -> list[Option]:
    return plugin.options(identity, _service(context, service), context.clock())


def _offered_after_upstream(plugin: EherkenningPlugin, context: BrokerContext, username: str,
                            service: str = OMZET) -> list[str]:
    """Option keys for ``username``'s login for ``service``; none when the upstream refuses."""
    identity = upstream_login(context, username, service)
    if identity is None:
        return []
    return [option.key for option in _options(plugin, context, identity, service)]


# -- what is offered -------------------------------------------------------------------------


def test_eva_is_offered_the_bakery_the_upstream_vouched_for(
        plugin: EherkenningPlugin, context: BrokerContext, clock: Clock) -> None:
    identity = employee_identity(BAKERY, "eva", at=clock.now)
    [option] = _options(plugin, context, identity)
    assert option == Option(links=(Link(
        party=Party(id=BAKERY, id_type="kvk", name=BAKERY_NAME), mandate_id=option.links[0].mandate_id,
        kind="company", role=None, services=(OMZET,)),), source="bedrijf")
    assert option.key == f"kvk:{BAKERY}"
    assert option.links[0].mandate_id.startswith(MANDATE_PREFIX)
    # The party is named by its KvK number, as the connector's identity names it; the
    # assertion's RSIN does not reach the identity, so the option cannot carry it.
    assert BAKERY_RSIN not in str(option.to_dict())


def test_eva_logged_in_at_mock_eherkenning_is_offered_the_bakery(
        plugin: EherkenningPlugin, context: BrokerContext) -> None:
    assert _offered_after_upstream(plugin, context, "eva") == [f"kvk:{BAKERY}"]


def test_mandate_id_is_stable_per_employee_organisation_and_service_and_reveals_none(
        plugin: EherkenningPlugin, context: BrokerContext, clock: Clock) -> None:
    def mandate_id(identity: Identity, service: str = OMZET) -> str:
        return _options(plugin, context, identity, service)[0].links[0].mandate_id

    eva = mandate_id(employee_identity(BAKERY, "eva", at=clock.now))
    assert eva == mandate_id(employee_identity(BAKERY, "eva", at=clock.now + timedelta(hours=1)))
    assert eva != mandate_id(employee_identity(BAKERY, "beheer", at=clock.now))
    assert eva != mandate_id(employee_identity(OFFICE, "eva", at=clock.now))
    assert eva != mandate_id(employee_identity(BAKERY, "eva", service=SUBSIDIE, at=clock.now),
                             SUBSIDIE)
    assert BAKERY not in eva and EVA not in eva and EVA.split("@")[0][:16] not in eva


# -- what is not offered ---------------------------------------------------------------------


def test_person_without_an_employer_in_the_identity_gets_no_option(
        plugin: EherkenningPlugin, context: BrokerContext, clock: Clock) -> None:
    jan = Identity(acting=Party(id="999993653", id_type="bsn", name="Jan Jansen"),
                   loa="substantial", connector="digid", authn_instant=clock.now,
                   attributes={"urn:etoegang:core:ServiceUUID": (OMZET,)})
    assert _options(plugin, context, jan) == []


def test_organisation_not_named_by_a_kvk_number_gets_no_option(
        plugin: EherkenningPlugin, context: BrokerContext, clock: Clock) -> None:
    identity = employee_identity(BAKERY, "eva", at=clock.now)
    by_rsin = Identity(acting=identity.acting, loa=identity.loa, connector=identity.connector,
                       authn_instant=identity.authn_instant, upstream_issuer=identity.upstream_issuer,
                       organisation=Party(id=BAKERY_RSIN, id_type="rsin", name=BAKERY_NAME),
                       attributes=identity.attributes)
    assert _options(plugin, context, by_rsin) == []


@pytest.mark.parametrize("vouched", [(SUBSIDIE,), (), (OMZET, SUBSIDIE)],
                         ids=["another-service", "no-service", "more-than-this-service"])
def test_assertion_not_vouching_for_exactly_this_service_gives_no_option(
        plugin: EherkenningPlugin, context: BrokerContext, clock: Clock,
        vouched: tuple[str, ...]) -> None:
    identity = employee_identity(BAKERY, "eva", service=None, at=clock.now)
    identity = Identity(acting=identity.acting, loa=identity.loa, connector=identity.connector,
                        authn_instant=identity.authn_instant, organisation=identity.organisation,
                        upstream_issuer=identity.upstream_issuer,
                        attributes={"urn:etoegang:core:ServiceUUID": vouched} if vouched else {})
    assert _options(plugin, context, identity) == []


def test_service_that_does_not_accept_company_representation_gives_no_option(
        plugin: EherkenningPlugin, context: BrokerContext, clock: Clock) -> None:
    identity = employee_identity(BAKERY, "eva", service=INKOMSTEN, at=clock.now)
    assert _options(plugin, context, identity, INKOMSTEN) == []


def test_withdrawn_authorisation_is_no_longer_offered(
        plugin: EherkenningPlugin, context: BrokerContext) -> None:
    assert _offered_after_upstream(plugin, context, "eva") == [f"kvk:{BAKERY}"]
    organisations(context).withdraw_company(
        kvk=BAKERY, mandate_id=company_mandate(context, BAKERY, EVA).id, actor=BEA)
    assert _offered_after_upstream(plugin, context, "eva") == []


def test_expired_authorisation_is_no_longer_offered(
        plugin: EherkenningPlugin, context: BrokerContext, clock: Clock) -> None:
    orgs = organisations(context)
    orgs.withdraw_company(kvk=BAKERY, mandate_id=company_mandate(context, BAKERY, EVA).id,
                          actor=BEA)
    orgs.grant_company(kvk=BAKERY, employee=EVA, services=[OMZET], loa="substantial",
                       chain=False, actor=BEA, valid_until=clock.now + timedelta(days=7))
    assert _offered_after_upstream(plugin, context, "eva") == [f"kvk:{BAKERY}"]
    clock.now += timedelta(days=7)
    assert _offered_after_upstream(plugin, context, "eva") == []


def test_service_the_employee_is_not_authorised_for_gives_no_option(
        plugin: EherkenningPlugin, context: BrokerContext) -> None:
    assert _offered_after_upstream(plugin, context, "eva", SUBSIDIE) == []
    organisations(context).grant_company(kvk=BAKERY, employee=EVA, services=[SUBSIDIE],
                                         loa="substantial", chain=False, actor=BEA)
    assert _offered_after_upstream(plugin, context, "eva", SUBSIDIE) == [f"kvk:{BAKERY}"]


def test_level_the_employee_is_not_authorised_at_gives_no_option(
        plugin: EherkenningPlugin, context: BrokerContext) -> None:
    """Eva's means reach EH3; an authorisation at EH4 does not let her in."""
    orgs = organisations(context)
    orgs.withdraw_company(kvk=BAKERY, mandate_id=company_mandate(context, BAKERY, EVA).id,
                          actor=BEA)
    orgs.grant_company(kvk=BAKERY, employee=EVA, services=[OMZET], loa="high", chain=False,
                       actor=BEA)
    assert _offered_after_upstream(plugin, context, "eva") == []


def test_employee_of_another_organisation_is_not_offered_the_bakery(
        plugin: EherkenningPlugin, context: BrokerContext) -> None:
    """Ruben's authorisation is the office's: the upstream vouches for the office, never the
    bakery (the bakery reaches him only through the chain plugin)."""
    assert _offered_after_upstream(plugin, context, "ruben") == [f"kvk:{OFFICE}"]
