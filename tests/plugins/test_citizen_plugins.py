"""The citizen plugins (DigiD Machtigen and legal representation) on the real register with the
demo world seeded: what they offer, and that within one lookup they read the person's mandates
in one statement between them, without knowing of each other.

Demo world: Jan gave Fatima a voluntary mandate for Inkomstenbelasting and Toeslagen; Fatima
has parental authority (ouderlijk gezag) over Noor, for the Zorgdossier only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from broker.context import BrokerContext
from broker.identity import Identity
from broker.identity import Party
from broker.pipeline import MandateSource
from broker.pipeline import Option
from broker.pipeline import gather
from broker.register.models import ACTIVE
from broker.register.models import REVOKED
from broker.register.models import Mandate
from plugins.chain_mandates import ChainMandatesPlugin
from plugins.digid_machtigen import DigidMachtigenPlugin
from plugins.eherkenning import EherkenningPlugin
from plugins.legal_representation import LegalRepresentationPlugin
from tests.fakes import Clock
from tests.plugins.support import INKOMSTEN
from tests.services import statements

JAN, FATIMA, PIETER, HENK, NOOR = "999993653", "999990676", "999991772", "999992570", "999990019"
ZORG = "e00bfadf-3129-5f5d-88eb-63e4ca833c5d"  # accepts legal:ouderlijk_gezag and others


@pytest.fixture
def plugins(context: BrokerContext) -> list[MandateSource]:
    """The demo configuration's four plugins, in its order."""
    return [DigidMachtigenPlugin(name="machtigen", context=context),
            LegalRepresentationPlugin(name="wettelijk", context=context),
            EherkenningPlugin(name="bedrijf", context=context),
            ChainMandatesPlugin(name="keten", context=context)]


@pytest.fixture
def mandate_queries(context: BrokerContext) -> Iterator[list[str]]:
    """The statements on the mandate table run while the test runs."""
    with statements(context.session().get_bind(), "FROM mandate") as seen:
        yield seen


def _citizen(bsn: str, clock: Clock) -> Identity:
    return Identity(acting=Party(id=bsn, id_type="bsn"), loa="substantial", connector="digid",
                    authn_instant=clock.now)


def _legal(context: BrokerContext, clock: Clock, *, represented: str, role: str,
           services: list[str], state: str = ACTIVE) -> Mandate:
    mandate = Mandate(
        id=str(uuid.uuid4()), kind="legal", role=role, represented_type="bsn",
        represented_id=represented, representative_type="bsn", representative_id=FATIMA,
        services=services, valid_from=clock.now - timedelta(days=1), valid_until=None,
        state=state, court_reference="C/13/1", created_at=clock.now, extra={})
    context.session().add(mandate)
    return mandate


def _offered(plugins: list[MandateSource], context: BrokerContext, clock: Clock, bsn: str,
             service: str) -> list[tuple[str, str | None, str, str | None, str]]:
    """(represented BSN, name, kind, role, source) of each option, in the chooser's order."""
    options = gather(plugins, _citizen(bsn, clock), context.catalogue().get(service), clock.now)
    return [_summary(option) for option in options]


def _summary(option: Option) -> tuple[str, str | None, str, str | None, str]:
    link, = option.links
    return link.party.id, link.party.name, link.kind, link.role, option.source


def test_fatima_is_offered_jan_and_her_ward_from_one_statement(
        plugins: list[MandateSource], context: BrokerContext, clock: Clock,
        mandate_queries: list[str]) -> None:
    _legal(context, clock, represented=HENK, role="bewind", services=[INKOMSTEN])
    context.session().commit()
    context.catalogue()  # read before counting: the catalogue is read once per session
    mandate_queries.clear()
    assert _offered(plugins, context, clock, FATIMA, INKOMSTEN) == [
        (HENK, "Henk Bakker", "legal", "bewind", "wettelijk"),
        (JAN, "Jan Jansen", "voluntary", None, "machtigen")]
    assert len(mandate_queries) == 1


def test_each_citizen_plugin_offers_only_its_own_kind_and_the_roles_the_service_accepts(
        plugins: list[MandateSource], context: BrokerContext, clock: Clock) -> None:
    """Inkomstenbelasting accepts voluntary, bewind and curatele; the Zorgdossier only legal
    roles, ouderlijk gezag among them."""
    _legal(context, clock, represented=PIETER, role="mentorschap", services=[INKOMSTEN, ZORG])
    _legal(context, clock, represented=HENK, role="curatele", services=[ZORG])
    context.session().commit()
    assert _offered(plugins, context, clock, FATIMA, INKOMSTEN) == [
        (JAN, "Jan Jansen", "voluntary", None, "machtigen")]
    assert _offered(plugins, context, clock, FATIMA, ZORG) == [
        (HENK, "Henk Bakker", "legal", "curatele", "wettelijk"),
        (NOOR, "Noor El Amrani", "legal", "ouderlijk_gezag", "wettelijk"),
        (PIETER, "Pieter de Vries", "legal", "mentorschap", "wettelijk")]


def test_each_lookup_reads_the_register_again(
        plugins: list[MandateSource], context: BrokerContext, clock: Clock,
        mandate_queries: list[str]) -> None:
    """What one lookup read is not kept for the next: a revocation counts at the next login."""
    assert [o[0] for o in _offered(plugins, context, clock, FATIMA, INKOMSTEN)] == [JAN]
    session = context.session()
    jans = session.execute(select(Mandate).where(Mandate.represented_id == JAN)).scalar_one()
    jans.state = REVOKED
    session.commit()
    mandate_queries.clear()
    assert _offered(plugins, context, clock, FATIMA, INKOMSTEN) == []
    assert len(mandate_queries) == 1


def test_a_mandate_the_session_holds_unflushed_is_seen(
        plugins: list[MandateSource], context: BrokerContext, clock: Clock) -> None:
    """As the ORM's queries do, the lookup flushes what the session holds before it reads."""
    _legal(context, clock, represented=HENK, role="bewind", services=[INKOMSTEN])
    assert [o[0] for o in _offered(plugins, context, clock, FATIMA, INKOMSTEN)] == [HENK, JAN]


def test_what_is_revoked_ended_or_not_yet_valid_is_not_offered(
        plugins: list[MandateSource], context: BrokerContext, clock: Clock) -> None:
    _legal(context, clock, represented=HENK, role="bewind", services=[INKOMSTEN],
           state=REVOKED)
    ended = _legal(context, clock, represented=PIETER, role="bewind", services=[INKOMSTEN])
    ended.valid_until = clock.now
    later = _legal(context, clock, represented=NOOR, role="bewind", services=[INKOMSTEN])
    later.valid_from = clock.now + timedelta(seconds=1)
    context.session().commit()
    assert [o[0] for o in _offered(plugins, context, clock, FATIMA, INKOMSTEN)] == [JAN]


def test_someone_who_represents_nobody_is_offered_nothing(
        plugins: list[MandateSource], context: BrokerContext, clock: Clock) -> None:
    assert _offered(plugins, context, clock, JAN, INKOMSTEN) == []
