"""Loads the demo world (data/demo-world.toml) into a fresh instance, once."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.db import MockAccount
from broker.db import ServiceRecord

DEMO_WORLD = Path(__file__).resolve().parents[2] / "data" / "demo-world.toml"


def load_world(path: Path = DEMO_WORLD) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def seed(session: Session, world: dict[str, Any] | None = None) -> bool:
    """Insert the demo world unless the instance already has services. True when it seeded."""
    if session.execute(select(ServiceRecord.uuid).limit(1)).first() is not None:
        return False
    world = world or load_world()
    for service in world["services"]:
        session.add(ServiceRecord(uuid=service["uuid"], name=service["name"], via=service["via"],
                                  min_loa=service["min_loa"], accepts=list(service["accepts"])))
    password_hash = PasswordHasher().hash(world["password"])
    for citizen in world["citizens"]:
        needs_code = citizen["level"] != "basic"
        session.add(MockAccount(
            idp="digid", username=citizen["username"], name=citizen["name"],
            identifier=citizen["bsn"], level=citizen["level"], password_hash=password_hash,
            totp_secret=world["totp_secret"] if needs_code else None,
            extra={"born": citizen["born"]}))
    session.commit()
    return True
