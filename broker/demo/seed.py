"""Loads the demo world (data/demo-world.toml) into a fresh instance, once."""

from __future__ import annotations

import tomllib
import uuid
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.accounts.models import AdminAccount
from broker.clock import utcnow
from broker.db import MockAccount
from broker.db import ServiceRecord
from broker.mock_idp.pseudonyms import employee_pseudonym
from broker.register.models import ACTIVE
from broker.register.models import MACHTIGINGENBEHEERDER
from broker.register.models import TEKENBEVOEGDE
from broker.register.models import Mandate
from broker.register.models import MandateEvent
from broker.register.models import Organisation
from broker.register.models import OrganisationRole
from broker.register.models import Person

DEMO_WORLD = Path(__file__).resolve().parents[2] / "data" / "demo-world.toml"


def load_world(path: Path = DEMO_WORLD) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def seed(session: Session, world: dict[str, Any] | None = None,
         now: datetime | None = None) -> bool:
    """Insert the demo world unless the instance already has services. True when it seeded."""
    if session.execute(select(ServiceRecord.uuid).limit(1)).first() is not None:
        return False
    world = world or load_world()
    now = now or utcnow()
    for service in world["services"]:
        session.add(ServiceRecord(uuid=service["uuid"], name=service["name"], via=service["via"],
                                  min_loa=service["min_loa"], accepts=list(service["accepts"]),
                                  allows_self=service.get("allows_self", True)))
    password_hash = PasswordHasher().hash(world["password"])
    for citizen in world["citizens"]:
        needs_code = citizen["level"] != "basic"
        session.add(MockAccount(
            idp="digid", username=citizen["username"], name=citizen["name"],
            identifier=citizen["bsn"], level=citizen["level"], password_hash=password_hash,
            totp_secret=world["totp_secret"] if needs_code else None,
            extra={"born": citizen["born"]}))
        session.add(Person(bsn=citizen["bsn"], name=citizen["name"],
                           birth_date=date.fromisoformat(citizen["born"])))
    _seed_organisations(session, world, password_hash, now)
    for admin in world.get("administrators", ()):
        session.add(AdminAccount(username=admin["username"], email=admin["email"],
                                 password_hash=PasswordHasher().hash(admin["password"]),
                                 totp_last_step=0, created_at=now, password_changed_at=now))
    session.flush()
    employers = {e["username"]: e["organisation"] for e in world["employees"]}
    for entry in world["mandates"]:
        if entry["kind"] in ("voluntary", "legal"):
            _seed_citizen_mandate(session, entry, now)
        else:
            _seed_organisation_mandate(session, entry, employers, now)
    session.commit()
    return True


def _seed_organisations(session: Session, world: dict[str, Any], password_hash: str,
                        now: datetime) -> None:
    """The mock trade register, the employees' mock eHerkenning accounts, and who administers
    each organisation's authorisations."""
    for organisation in world["organisations"]:
        session.add(Organisation(kvk=organisation["kvk"], rsin=organisation["rsin"],
                                 name=organisation["name"], branch=organisation.get("branch")))
    for employee in world["employees"]:
        pseudonym = employee_pseudonym(employee["organisation"], employee["username"])
        session.add(MockAccount(
            idp="eherkenning", username=employee["username"], name=employee["name"],
            identifier=pseudonym, level=employee.get("level", "substantial"),
            password_hash=password_hash, totp_secret=world["totp_secret"],
            extra={"organisation": employee["organisation"], "role": employee["role"]}))
        role = {"machtigingenbeheerder": MACHTIGINGENBEHEERDER,
                "tekenbevoegde": TEKENBEVOEGDE}.get(employee["role"])
        if role:
            session.add(OrganisationRole(kvk=employee["organisation"], pseudonym=pseudonym,
                                         role=role, appointed_by="system", appointed_at=now))


def _seed_organisation_mandate(session: Session, entry: dict[str, Any],
                               employers: dict[str, str], now: datetime) -> None:
    """company: an organisation authorises its employee; chain: a client mandates an
    intermediary. Open-ended, at EH3, with a history entry saying they came from the seed."""
    if entry["kind"] == "company":
        representative = ("pseudonym", employee_pseudonym(employers[entry["to"]], entry["to"]))
    else:
        representative = ("kvk", entry["to"])
    mandate = Mandate(
        id=str(uuid.uuid4()), kind=entry["kind"], role=None,
        represented_type="kvk", represented_id=entry["from"],
        representative_type=representative[0], representative_id=representative[1],
        services=list(entry["services"]), loa=entry.get("loa", "substantial"), valid_from=now,
        valid_until=None, state=ACTIVE, court_reference=None, created_at=now,
        extra={"chain": True} if entry.get("chain") else {})
    session.add(mandate)
    session.add(MandateEvent(mandate_id=mandate.id, at=now, actor="system", action="seeded",
                             from_state=None, to_state=ACTIVE, reason="demo world"))


def _seed_citizen_mandate(session: Session, entry: dict[str, Any], now: datetime) -> None:
    """An already active mandate, with a history entry saying it came from the seed."""
    valid_until: datetime | None = None
    if entry["valid"] == "1y":
        valid_until = now + timedelta(days=365)
    elif entry["valid"] == "until_18":
        child = session.get(Person, entry["from"])
        assert child is not None, "ouderlijk gezag needs the child in the seed's BRP"
        born = child.birth_date
        valid_until = datetime(born.year + 18, born.month, born.day, tzinfo=now.tzinfo)
    mandate = Mandate(
        id=str(uuid.uuid4()), kind=entry["kind"], role=entry.get("role"),
        represented_type="bsn", represented_id=entry["from"],
        representative_type="bsn", representative_id=entry["to"],
        services=list(entry["services"]), valid_from=now, valid_until=valid_until,
        state=ACTIVE, court_reference=entry.get("court_reference"), created_at=now, extra={})
    session.add(mandate)
    session.add(MandateEvent(mandate_id=mandate.id, at=now, actor="system", action="seeded",
                             from_state=None, to_state=ACTIVE, reason="demo world"))
