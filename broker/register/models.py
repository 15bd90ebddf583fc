"""The register's tables."""

from __future__ import annotations

from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import Date
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from broker.clock import utcnow
from broker.db import Base

#: Mandate states. "expired" is reached by time; the others by a person's act.
REQUESTED = "requested"  #: asked for by the representative, awaiting the represented party
AWAITING_ACTIVATION = "awaiting_activation"  #: given, awaiting the activation code
ACTIVE = "active"
REVOKED = "revoked"
EXPIRED = "expired"
REFUSED = "refused"  #: a request the represented party turned down
STATES = (REQUESTED, AWAITING_ACTIVATION, ACTIVE, REVOKED, EXPIRED, REFUSED)

KINDS = ("voluntary", "legal", "company", "chain")
LEGAL_ROLES = ("bewind", "curatele", "mentorschap", "ouderlijk_gezag")


class Person(Base):
    """The mock population register (BRP): names and dates of birth by BSN."""

    __tablename__ = "brp_person"
    bsn: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)


class Mandate(Base):
    """Party A (represented) lets party B (representative) act for it.

    - voluntary / legal: bsn → bsn;
    - company: kvk (the organisation) → pseudonym (its employee); ``extra["chain"] = True``
      lets the employee also use the organisation's chain mandates;
    - chain: kvk (the client) → kvk (the intermediary), whose authorised employees then act.
    """

    __tablename__ = "mandate"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    role: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: the party acted for ("machtiger" / "vertegenwoordigde")
    represented_type: Mapped[str] = mapped_column(String(10))
    represented_id: Mapped[str] = mapped_column(String(200))
    #: the party that may act ("gemachtigde" / representative)
    representative_type: Mapped[str] = mapped_column(String(10))
    representative_id: Mapped[str] = mapped_column(String(200))
    services: Mapped[list[str]] = mapped_column(JSON)
    #: company authorisations are per level too (eHerkenning EH2..EH4); None: the service's
    loa: Mapped[str | None] = mapped_column(String(20), nullable=True)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    state: Mapped[str] = mapped_column(String(30))
    court_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: set by the bulk import (sha256 of the normalised row), so a re-import adds nothing twice
    import_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True,
                                                   index=True)
    #: raised by every change through the ORM, which checks it is still the one read: of two
    #: requests changing one mandate at once, the second fails (StaleDataError), changes nothing
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    events: Mapped[list[MandateEvent]] = relationship(
        back_populates="mandate", order_by="MandateEvent.id")
    codes: Mapped[list[ActivationCode]] = relationship(back_populates="mandate")

    __table_args__ = (
        Index("ix_mandate_representative", "representative_type", "representative_id", "state"),
        Index("ix_mandate_represented", "represented_type", "represented_id"),
    )
    __mapper_args__ = {"version_id_col": version}


class MandateEvent(Base):
    """One entry of a mandate's history; rows are only ever added."""

    __tablename__ = "mandate_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mandate_id: Mapped[str] = mapped_column(ForeignKey("mandate.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))  #: "bsn:…", "admin:…", "system"
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(30), nullable=True)
    to_state: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    mandate: Mapped[Mandate] = relationship(back_populates="events")


class ActivationCode(Base):
    """A one-time activation code, stored hashed; shown once (screen) or sent by letter."""

    __tablename__ = "activation_code"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mandate_id: Mapped[str] = mapped_column(ForeignKey("mandate.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(10))  #: "screen" | "letter"
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    mandate: Mapped[Mandate] = relationship(back_populates="codes")


class Letter(Base):
    """A letter "sent by post": the demo shows each person's letter box instead."""

    __tablename__ = "letter"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recipient_bsn: Mapped[str] = mapped_column(String(9), index=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    mandate_id: Mapped[str | None] = mapped_column(ForeignKey("mandate.id"), nullable=True)


class Organisation(Base):
    """The mock trade register (Handelsregister): companies and their main branch."""

    __tablename__ = "organisation"
    kvk: Mapped[str] = mapped_column(String(8), primary_key=True)
    rsin: Mapped[str] = mapped_column(String(9), index=True)
    name: Mapped[str] = mapped_column(String(200))
    branch: Mapped[str | None] = mapped_column(String(12), nullable=True)  #: vestigingsnummer


#: Who may administer an organisation's authorisations: its authorised signatories (from the
#: trade register) and the authorisation administrators they appoint.
TEKENBEVOEGDE = "tekenbevoegde"
MACHTIGINGENBEHEERDER = "machtigingenbeheerder"


class OrganisationRole(Base):
    """A person's administrative role for an organisation; ended, never deleted."""

    __tablename__ = "organisation_role"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kvk: Mapped[str] = mapped_column(ForeignKey("organisation.kvk"), index=True)
    #: the employee's stable eHerkenning pseudonym
    pseudonym: Mapped[str] = mapped_column(String(120), index=True)
    role: Mapped[str] = mapped_column(String(40))
    appointed_by: Mapped[str] = mapped_column(String(120))
    appointed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: as :attr:`Mandate.version`: a role is ended once, by one request
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__ = {"version_id_col": version}
