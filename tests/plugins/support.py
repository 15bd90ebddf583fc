"""Shared by the company-mandate plugin tests: the demo world's parties, eHerkenning identities
as the mock eHerkenning connector builds them, and the register's operations on the context."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from broker.context import BrokerContext
from broker.db import MockAccount
from broker.db import ServiceRecord
from broker.identity import Identity
from broker.identity import Party
from broker.mock_idp.eherkenning import ENTITY_ID
from broker.mock_idp.eherkenning import authorising_mandate
from broker.mock_idp.pseudonyms import employee_pseudonym
from broker.register.models import TEKENBEVOEGDE
from broker.register.models import Mandate
from broker.register.models import Organisation
from broker.register.models import OrganisationRole
from broker.register.organisations import Organisations
from broker.register.service import Limits
from broker.saml import names

SERVICE_UUID = names.ETD_SERVICE_UUID
OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"  # Aangifte omzetbelasting: company and chain
INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"  # a DigiD service: voluntary and legal
SUBSIDIE = "0d5c8a64-7f0e-5d51-9a38-0a3b7f6f2c01"  # eHerkenning, company only (no chain)
LOONAANGIFTE = "6a1f1c52-3b6e-5c8e-8d1a-58f5d0f0e7a2"  # eHerkenning, company and chain

BAKERY, BAKERY_RSIN, BAKERY_NAME = "10000001", "999990172", "Bakkerij De Korenaar B.V."
OFFICE, OFFICE_NAME = "20000002", "Administratiekantoor Telgen"
THIRD, THIRD_NAME = "30000003", "Derde Administratie B.V."
FOURTH, FOURTH_NAME = "40000004", "Vierde B.V."

EVA = employee_pseudonym(BAKERY, "eva")
BEA = employee_pseudonym(BAKERY, "beheer")  # machtigingenbeheerder of the bakery
RUBEN = employee_pseudonym(OFFICE, "ruben")  # tekenbevoegde of the office, chain authorised
TINE = employee_pseudonym(THIRD, "tine")  # tekenbevoegde of the third company
FRITS = employee_pseudonym(FOURTH, "frits")  # tekenbevoegde of the fourth company

NAMES = {BAKERY: BAKERY_NAME, OFFICE: OFFICE_NAME, THIRD: THIRD_NAME, FOURTH: FOURTH_NAME}


def add_world_extras(session: Any, now: datetime) -> None:
    """Two more services and two more companies (each with its signatory) beside the demo world."""
    session.add_all([
        ServiceRecord(uuid=SUBSIDIE, name="Subsidie", via="eherkenning", min_loa="substantial",
                      accepts=["company"], allows_self=False),
        ServiceRecord(uuid=LOONAANGIFTE, name="Loonaangifte", via="eherkenning",
                      min_loa="substantial", accepts=["company", "chain"], allows_self=False),
        Organisation(kvk=THIRD, rsin="999990202", name=THIRD_NAME, branch=None),
        Organisation(kvk=FOURTH, rsin="999990214", name=FOURTH_NAME, branch=None),
        OrganisationRole(kvk=THIRD, pseudonym=TINE, role=TEKENBEVOEGDE, appointed_by="system",
                         appointed_at=now),
        OrganisationRole(kvk=FOURTH, pseudonym=FRITS, role=TEKENBEVOEGDE, appointed_by="system",
                         appointed_at=now),
    ])
    session.commit()


def employee_identity(kvk: str, username: str, *, service: str | None = OMZET,
                      loa: str = "substantial", at: datetime) -> Identity:
    """The identity the mock eHerkenning connector builds for ``username`` of ``kvk`` after the
    upstream vouched for ``service`` (None: an assertion without a ServiceUUID)."""
    return Identity(
        acting=Party(id=employee_pseudonym(kvk, username), id_type="pseudonym"),
        organisation=Party(id=kvk, id_type="kvk", name=NAMES.get(kvk)),
        loa=loa, connector="eherkenning", authn_instant=at, upstream_issuer=ENTITY_ID,
        attributes={SERVICE_UUID: (service,)} if service else {})


def upstream_login(context: BrokerContext, username: str, service: str) -> Identity | None:
    """What mock eHerkenning and its connector make of ``username``'s login for ``service``:
    None where the upstream mandate register answers RequestDenied (no active, current
    authorisation of the employee's own organisation at a level the account reaches),
    otherwise the identity the connector builds from the answer."""
    session = context.session()
    account = session.execute(select(MockAccount).where(
        MockAccount.idp == "eherkenning", MockAccount.username == username)).scalar_one()
    if authorising_mandate(context, account, service) is None:
        return None
    kvk = account.extra["organisation"]
    return employee_identity(kvk, username, service=service, loa=account.level, at=context.clock())


def organisations(context: BrokerContext) -> Organisations:
    """The register's organisation operations, with the context's clock and chain depth."""
    return Organisations(context.session(), context.catalogue(), clock=context.clock,
                         limits=Limits(**context.settings.register))


def set_chain_depth(context: BrokerContext, depth: int) -> None:
    """Change ``[register] chain_depth`` of a running broker (as a restart with a new config)."""
    context.settings = replace(context.settings,
                               register={**context.settings.register, "chain_depth": depth})


def company_mandate(context: BrokerContext, kvk: str, pseudonym: str) -> Mandate:
    return context.session().execute(select(Mandate).where(
        Mandate.kind == "company", Mandate.represented_id == kvk,
        Mandate.representative_id == pseudonym)).scalar_one()


def chain_mandate(context: BrokerContext, client: str, intermediary: str) -> Mandate:
    return context.session().execute(select(Mandate).where(
        Mandate.kind == "chain", Mandate.represented_id == client,
        Mandate.representative_id == intermediary)).scalar_one()
