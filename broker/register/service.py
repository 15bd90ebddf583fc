"""What people and administrators do with mandates: give, ask, approve, activate, revoke, record.

Plain Python over a SQLAlchemy session. Every refusal is a :class:`RegisterError` whose text is
for the person (Dutch / English) and nothing is written on refusal.

What two requests may do at the same moment is settled in the database: a mandate's state
changes only from the state it was read in (its version column; the loser is told the mandate
changed meanwhile), a duplicate is looked for only while holding the represented party's lock
(:mod:`broker.locks`), and every wrong activation attempt is reserved in one atomic step before
the code is checked (per code in its row, per person in the state store's counter).
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Concatenate
from typing import ParamSpec
from typing import TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from broker import audit
from broker import locks
from broker.clock import aware
from broker.clock import utcnow
from broker.db import commit
from broker.errors import InputError
from broker.errors import UnknownServiceError
from broker.identifiers import require_bsn
from broker.register import codes
from broker.register.lookup import mandate_in_period
from broker.register.lookup import usable_mandates
from broker.register.models import ACTIVE
from broker.register.models import AWAITING_ACTIVATION
from broker.register.models import EXPIRED
from broker.register.models import LEGAL_ROLES
from broker.register.models import REFUSED
from broker.register.models import REQUESTED
from broker.register.models import REVOKED
from broker.register.models import ActivationCode
from broker.register.models import Letter
from broker.register.models import Mandate
from broker.register.models import MandateEvent
from broker.register.models import Person
from broker.services import ServiceCatalogue
from broker.state import SqlStateStore
from broker.state import StateStore
from broker.text import Bilingual

P = ParamSpec("P")
R = TypeVar("R")
MIN_DAYS, MAX_DAYS = 1, 5 * 365 + 1
WRONG_ACTIVATION_TEXT = Bilingual(
    "De combinatie van BSN, geboortedatum en activeringscode klopt niet.",
    "The combination of BSN, date of birth and activation code is not correct.")
#: the refusal as the error's ``str()`` (the log, the command line) shows it
WRONG_ACTIVATION = str(WRONG_ACTIVATION_TEXT)
CHANGED_MEANWHILE = Bilingual(
    "Deze machtiging is intussen gewijzigd, misschien in een ander venster. Bekijk hoe zij er "
    "nu voor staat.", "This mandate was changed meanwhile, perhaps in another window. Look at "
    "where it stands now.")


class RegisterError(InputError):
    """A person's request is refused; the message is theirs to read."""


def guarded(method: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[Any, P], R]:
    """For a method of an object with a ``_session`` that changes mandates or roles: one that
    another request changed since it was read here (its version moved on, found at any flush,
    not only at the commit) undoes everything and tells the person so."""
    @functools.wraps(method)
    def changing(self: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except StaleDataError:
            self._session.rollback()
            raise RegisterError(CHANGED_MEANWHILE) from None
    return changing


@dataclass(frozen=True, slots=True)
class Limits:
    screen_code_seconds: int = 3600
    letter_code_seconds: int = 30 * 86400
    attempts_per_code: int = 5
    attempts_per_person: int = 10
    #: how long a person's wrong activation attempts are counted (and they stay blocked)
    attempt_window_seconds: int = 86400
    #: how many intermediaries a chain may have (default 1, as eHerkenning; at most 3)
    chain_depth: int = 1


class Register:
    def __init__(self, session: Session, catalogue: ServiceCatalogue, *,
                 clock: Callable[[], datetime] = utcnow, limits: Limits = Limits(),
                 counters: StateStore | None = None) -> None:
        """``counters`` keeps the wrong activation attempts per person (the broker's state
        store; by default the SQL one on ``session``)."""
        self._session = session
        self._catalogue = catalogue
        self._clock = clock
        self._limits = limits
        self._counters = counters or SqlStateStore(lambda: session, clock)

    # -- voluntary mandates (DigiD Machtigen) ------------------------------------------------

    def give(self, *, giver: str, services: Sequence[str], days: int) -> tuple[Mandate, str]:
        """Jan gives a mandate; whoever activates the returned code becomes the representative."""
        self._check_voluntary(services, days)
        mandate = self._new(kind="voluntary", represented=("bsn", giver), representative=None,
                            services=services, days=days, state=AWAITING_ACTIVATION)
        code = self._issue_code(mandate, "screen", self._limits.screen_code_seconds)
        self._event(mandate, f"bsn:{giver}", "given", None, AWAITING_ACTIVATION)
        self._commit()
        return mandate, code

    def ask(self, *, requester: str, represented_bsn: str, birth_date: date,
            services: Sequence[str], days: int) -> Mandate:
        """Fatima asks for a mandate; a letter with a code goes to the represented person."""
        represented_bsn = require_bsn(represented_bsn)
        self._check_voluntary(services, days)
        if represented_bsn == requester:
            raise RegisterError("U kunt uzelf niet machtigen.", "You cannot mandate yourself.")
        person = self._person(represented_bsn)
        if person is None or person.birth_date != birth_date:
            raise RegisterError("Wij kunnen deze persoon niet vinden met dit BSN en deze "
                                "geboortedatum.", "We cannot find this person with this BSN and "
                                "date of birth.")
        locks.hold(self._session, party_lock("bsn", represented_bsn))
        if self._overlapping(("bsn", represented_bsn), ("bsn", requester), services,
                             kinds=("voluntary",), states=(REQUESTED, ACTIVE)):
            raise RegisterError("U heeft deze persoon al om een machtiging voor deze dienst "
                                "gevraagd, of u heeft er al een.", "You already asked this person "
                                "for a mandate for this service, or you already have one.")
        mandate = self._new(kind="voluntary", represented=("bsn", represented_bsn),
                            representative=("bsn", requester), services=services, days=days,
                            state=REQUESTED)
        code = self._issue_code(mandate, "letter", self._limits.letter_code_seconds)
        self._event(mandate, f"bsn:{requester}", "requested", None, REQUESTED)
        self._send_letter(mandate, person, requester, code)
        self._commit()
        return mandate

    @guarded
    def approve(self, *, approver: str, mandate_id: str) -> Mandate:
        """The represented person approves a request in the portal."""
        mandate = self._mine(mandate_id, represented=approver, states=(REQUESTED,))
        self._transition(mandate, f"bsn:{approver}", "approved", ACTIVE, None)
        self._retire_codes(mandate)
        self._commit()
        return mandate

    @guarded
    def refuse(self, *, actor: str, mandate_id: str, reason: str | None = None) -> Mandate:
        mandate = self._mine(mandate_id, represented=actor, states=(REQUESTED,))
        self._transition(mandate, f"bsn:{actor}", "refused", REFUSED, reason)
        self._retire_codes(mandate)
        self._commit()
        return mandate

    def activate(self, *, activator: str, represented_bsn: str, birth_date: date,
                 code: str) -> Mandate:
        """The representative enters the code with the represented person's BSN and birth date.

        Wrong input of any kind gets the same message; attempts are limited per code and per
        person, after which activation is locked with its own clear message. The attempt is
        counted (committed) before any code is checked, and given back if it was right, so
        attempts sent at the same moment are each counted once and never one too many checked.
        """
        represented_bsn = require_bsn(represented_bsn)
        self._reserve_person_attempt(activator)
        reserved = self._reserve_code_attempts(represented_bsn, activator)
        person = self._person(represented_bsn)
        if person is not None and person.birth_date == birth_date:
            for record in reserved:
                if codes.matches(record.code_hash, code):
                    return self._activated(record, activator, reserved, code)
            again = self._activated_before(represented_bsn, activator, code)
            if again is not None:
                self._give_back(activator, reserved)
                return again
        raise RegisterError(WRONG_ACTIVATION_TEXT)

    # -- for everybody ----------------------------------------------------------------------

    @guarded
    def revoke(self, *, actor: str, mandate_id: str, reason: str | None = None) -> Mandate:
        """Either side withdraws; effective for the very next login."""
        mandate = self._session.get(Mandate, mandate_id)
        if mandate is None or f"bsn:{actor}" not in (_party(mandate, "represented"),
                                                     _party(mandate, "representative")):
            raise RegisterError("Deze machtiging bestaat niet.", "This mandate does not exist.")
        self._expire_if_due(mandate)
        if mandate.state not in (ACTIVE, AWAITING_ACTIVATION, REQUESTED):
            raise RegisterError("Deze machtiging is al beëindigd.", "This mandate has already "
                                "ended.")
        self._transition(mandate, f"bsn:{actor}", "revoked", REVOKED, reason)
        self._retire_codes(mandate)
        self._commit()
        return mandate

    def given_by(self, party_type: str, party_id: str) -> list[Mandate]:
        return self._listing(Mandate.represented_type == party_type,
                             Mandate.represented_id == party_id)

    def received_by(self, party_type: str, party_id: str) -> list[Mandate]:
        return self._listing(Mandate.representative_type == party_type,
                             Mandate.representative_id == party_id)

    def letters_for(self, bsn: str) -> list[Letter]:
        return list(self._session.execute(
            select(Letter).where(Letter.recipient_bsn == bsn).order_by(Letter.id.desc())
        ).scalars())

    def usable(self, representative_type: str, representative_id: str, service: str,
               kinds: Sequence[str]) -> list[Mandate]:
        """Active, currently valid mandates of ``kinds`` covering ``service``."""
        return usable_mandates(self._session, representative_type, representative_id, service,
                               kinds, self._clock())

    # -- legal representation (administrators) ----------------------------------------------

    @property
    def session(self) -> Session:
        return self._session

    def rollback(self) -> None:
        self._session.rollback()

    def record_legal(self, *, represented_bsn: str, representative_bsn: str, role: str,
                     services: Sequence[str], court_reference: str, actor: str,
                     valid_until: datetime | None = None, commit: bool = True) -> Mandate:
        """Record bewind, curatele, mentorschap or ouderlijk gezag from a court decision."""
        represented_bsn = require_bsn(represented_bsn)
        representative_bsn = require_bsn(representative_bsn)
        if role not in LEGAL_ROLES:
            raise RegisterError(f"Onbekende vorm van vertegenwoordiging: {role}.", "Unknown kind "
                                f"of representation: {role} (one of {', '.join(LEGAL_ROLES)}).")
        if represented_bsn == representative_bsn:
            raise RegisterError("Iemand kan niet zijn eigen vertegenwoordiger zijn.", "Nobody can "
                                "represent themself.")
        if not court_reference.strip():
            raise RegisterError("Het kenmerk van de rechterlijke uitspraak ontbreekt.", "The court "
                                "decision reference is missing.")
        self._check_services(services, f"legal:{role}")
        if role == "ouderlijk_gezag":
            valid_until = self._eighteenth_birthday(represented_bsn)
        elif valid_until is not None:
            valid_until = aware(valid_until)
            if valid_until <= self._clock():
                raise RegisterError("De einddatum ligt in het verleden.", "The end date is in "
                                    "the past.")
        locks.hold(self._session, party_lock("bsn", represented_bsn))
        if self._overlapping(("bsn", represented_bsn), ("bsn", representative_bsn), services,
                             kinds=("legal",), states=(ACTIVE,), role=role):
            raise RegisterError("Deze vertegenwoordiging is al vastgelegd voor deze dienst.",
                                "This representation is already recorded for this service.")
        mandate = self._new(kind="legal", represented=("bsn", represented_bsn),
                            representative=("bsn", representative_bsn), services=services,
                            days=None, state=ACTIVE, role=role, valid_until=valid_until,
                            court_reference=court_reference.strip())
        self._event(mandate, actor, "recorded", None, ACTIVE, court_reference)
        if commit:
            self._commit()
        return mandate

    # -- internals --------------------------------------------------------------------------

    def _new(self, *, kind: str, represented: tuple[str, str],
             representative: tuple[str, str] | None, services: Sequence[str], days: int | None,
             state: str, role: str | None = None, valid_until: datetime | None = None,
             court_reference: str | None = None) -> Mandate:
        now = self._clock()
        if days is not None:
            valid_until = now + timedelta(days=days)
        mandate = Mandate(
            id=str(uuid.uuid4()), kind=kind, role=role,
            represented_type=represented[0], represented_id=represented[1],
            representative_type=representative[0] if representative else "bsn",
            representative_id=representative[1] if representative else "",
            services=list(dict.fromkeys(services)), valid_from=now, valid_until=valid_until,
            state=state, court_reference=court_reference, created_at=now, extra={})
        self._session.add(mandate)
        return mandate

    def _check_voluntary(self, services: Sequence[str], days: int) -> None:
        if not MIN_DAYS <= days <= MAX_DAYS:
            raise RegisterError("Kies een periode van minimaal 1 dag en maximaal 5 jaar.",
                                "Choose a period of at least 1 day and at most 5 years.")
        self._check_services(services, "voluntary")

    def _check_services(self, services: Sequence[str], accepts: str) -> None:
        check_services(self._catalogue, services, accepts)

    def _issue_code(self, mandate: Mandate, channel: str, seconds: int) -> str:
        code = codes.new_code()
        self._session.add(ActivationCode(
            mandate_id=mandate.id, code_hash=codes.hash_code(code), channel=channel,
            expires_at=self._clock() + timedelta(seconds=seconds), failed_attempts=0))
        return code

    def _reserve_person_attempt(self, activator: str) -> None:
        """Count this attempt for the activating person, or refuse: blocked for the window."""
        counted = self._counters.incr(_person_key(activator), self._limits.attempt_window_seconds)
        if counted > self._limits.attempts_per_person:
            raise RegisterError(
                "U heeft te vaak een onjuiste code ingevoerd. Activeren is "
                f"{_duration_nl(self._limits.attempt_window_seconds)} geblokkeerd.", "You entered "
                "a wrong code too often. Activation is blocked for "
                f"{_duration_en(self._limits.attempt_window_seconds)}.")

    def _reserve_code_attempts(self, represented_bsn: str,
                               activator: str) -> list[ActivationCode]:
        """The pending, unexpired codes for ``represented_bsn`` that ``activator`` may use and
        that have attempts left, each with this attempt counted: one UPDATE that counts only
        where the count is below the limit, committed before any code is checked."""
        now = self._clock()
        candidates = [code.id for code in self._session.execute(
            select(ActivationCode).join(Mandate).where(
                Mandate.represented_type == "bsn", Mandate.represented_id == represented_bsn,
                Mandate.state.in_((AWAITING_ACTIVATION, REQUESTED)),
                ActivationCode.used_at.is_(None),
                or_(Mandate.state == AWAITING_ACTIVATION,
                    Mandate.representative_id == activator),
            )).scalars() if aware(code.expires_at) > now]
        if not candidates:
            return []
        counted = self._session.execute(
            update(ActivationCode).where(
                ActivationCode.id.in_(candidates),
                ActivationCode.failed_attempts < self._limits.attempts_per_code,
            ).values(failed_attempts=ActivationCode.failed_attempts + 1)
            .returning(ActivationCode.id)
            .execution_options(synchronize_session=False)).scalars().all()
        self._commit()
        return [self._session.get_one(ActivationCode, id_) for id_ in counted]

    def _activated(self, record: ActivationCode, activator: str,
                   reserved: list[ActivationCode], code: str) -> Mandate:
        represented_bsn = record.mandate.represented_id
        if represented_bsn == activator:
            raise RegisterError("U kunt uzelf niet machtigen.", "You cannot mandate yourself.")
        try:
            mandate = self._make_active(record, activator)
        except RegisterError:  # activated at this moment by another request: by this person?
            again = self._activated_before(represented_bsn, activator, code)
            if again is None:
                raise
            mandate = again
        self._give_back(activator, reserved)
        return mandate

    @guarded
    def _make_active(self, record: ActivationCode, activator: str) -> Mandate:
        mandate = record.mandate
        record.used_at = self._clock()
        mandate.representative_type, mandate.representative_id = "bsn", activator
        self._transition(mandate, f"bsn:{activator}", "activated", ACTIVE, None)
        self._retire_codes(mandate)
        self._commit()
        return mandate

    def _activated_before(self, represented_bsn: str, activator: str,
                          code: str) -> Mandate | None:
        """The mandate ``activator`` activated with ``code`` in the last hour: the same form
        sent twice is the same right answer, not a wrong attempt."""
        recent = self._clock() - timedelta(hours=1)
        used = self._session.execute(select(ActivationCode).join(Mandate).where(
            Mandate.represented_type == "bsn", Mandate.represented_id == represented_bsn,
            Mandate.representative_id == activator, Mandate.state == ACTIVE,
            ActivationCode.used_at >= recent)).scalars()
        return next((record.mandate for record in used
                     if codes.matches(record.code_hash, code)), None)

    def _give_back(self, activator: str, reserved: list[ActivationCode]) -> None:
        """A right answer was no wrong attempt: give back what :meth:`activate` counted."""
        for record in reserved:
            record.failed_attempts = ActivationCode.failed_attempts - 1
        self._commit()
        self._counters.incr(_person_key(activator), self._limits.attempt_window_seconds, -1)

    def _retire_codes(self, mandate: Mandate) -> None:
        for record in mandate.codes:
            if record.used_at is None:
                record.used_at = self._clock()

    def _mine(self, mandate_id: str, *, represented: str, states: tuple[str, ...]) -> Mandate:
        mandate = self._session.get(Mandate, mandate_id)
        if mandate is None or _party(mandate, "represented") != f"bsn:{represented}":
            raise RegisterError("Deze machtiging bestaat niet.", "This mandate does not exist.")
        if mandate.state not in states:
            raise RegisterError("Deze aanvraag is al afgehandeld.", "This request has already "
                                "been dealt with.")
        return mandate

    def _commit(self) -> None:
        commit_change(self._session)

    def _overlapping(self, represented: tuple[str, str], representative: tuple[str, str],
                     services: Sequence[str], *, kinds: Sequence[str], states: Sequence[str],
                     role: str | None = None) -> bool:
        return bool(overlapping(self._session, represented, representative, services,
                                kinds=kinds, states=states, role=role, now=self._clock()))

    def _transition(self, mandate: Mandate, actor: str, action: str, to_state: str,
                    reason: str | None) -> None:
        self._event(mandate, actor, action, mandate.state, to_state, reason)
        mandate.state = to_state

    def _event(self, mandate: Mandate, actor: str, action: str, from_state: str | None,
               to_state: str, reason: str | None = None) -> None:
        """The mandate's own history entry and the audit trail's, in the same transaction."""
        at = self._clock()
        self._session.add(MandateEvent(mandate_id=mandate.id, at=at, actor=actor,
                                       action=action, from_state=from_state, to_state=to_state,
                                       reason=reason))
        audit_mandate_change(self._session, mandate, actor=actor, action=action,
                             from_state=from_state, to_state=to_state, reason=reason, at=at)

    def _listing(self, *conditions: ColumnElement[bool]) -> list[Mandate]:
        rows = list(self._session.execute(
            select(Mandate).where(*conditions).order_by(Mandate.created_at.desc())).scalars())
        try:
            self._expire_due(rows)
        except RegisterError:  # another request recorded the same expiry at this moment
            return self._listing(*conditions)
        return rows

    @guarded
    def _expire_due(self, mandates: list[Mandate]) -> None:
        if any([self._expire_if_due(mandate) for mandate in mandates]):
            self._commit()

    def _expire_if_due(self, mandate: Mandate) -> bool:
        """Record expiry as a state change the first time anyone looks after the end date."""
        if mandate.state == ACTIVE and mandate.valid_until and not mandate_in_period(
                mandate, self._clock()):
            self._transition(mandate, "system", "expired", EXPIRED, "end of the period")
            return True
        return False

    def _person(self, bsn: str) -> Person | None:
        return self._session.get(Person, bsn)

    def _eighteenth_birthday(self, bsn: str) -> datetime:
        person = self._person(bsn)
        if person is None:
            raise RegisterError("Dit kind staat niet in de basisregistratie personen.", "This "
                                "child is not in the population register.")
        born = person.birth_date
        birthday = born.replace(year=born.year + 18) if (born.month, born.day) != (2, 29) \
            else date(born.year + 18, 3, 1)
        return datetime(birthday.year, birthday.month, birthday.day, tzinfo=self._clock().tzinfo)

    def _send_letter(self, mandate: Mandate, person: Person, requester: str, code: str) -> None:
        requester_person = self._person(requester)
        who = requester_person.name if requester_person else "iemand / someone"
        names = ", ".join(self._catalogue.get(s).name for s in mandate.services)
        body = (
            f"Beste {person.name},\n\n{who} vraagt u om een machtiging voor: {names}.\n"
            f"Gaat u akkoord? Keur de aanvraag goed in het machtigingenportaal, of geef deze "
            f"activeringscode aan {who}: {code}\nDe code is 30 dagen geldig. Niet akkoord? Dan "
            f"hoeft u niets te doen, of u wijst de aanvraag af in het portaal.\n\n"
            f"Dear {person.name},\n\n{who} asks you for a mandate for: {names}. If you agree, "
            f"approve the request in the mandate portal, or give this activation code to "
            f"{who}: {code}\nThe code is valid for 30 days. If you do not agree, you need not "
            f"do anything, or you can refuse the request in the portal.")
        self._session.add(Letter(recipient_bsn=person.bsn, sent_at=self._clock(),
                                 subject="Aanvraag machtiging / Mandate request", body=body,
                                 mandate_id=mandate.id))


def commit_change(session: Session) -> None:
    """Commit a change of the register; a mandate (or role) another request changed since it
    was read here (its version moved on) undoes everything and tells the person so."""
    try:
        commit(session)
    except StaleDataError:
        session.rollback()
        raise RegisterError(CHANGED_MEANWHILE) from None


def overlapping(session: Session, represented: tuple[str, str], representative: tuple[str, str],
                services: Sequence[str], *, kinds: Sequence[str], states: Sequence[str],
                now: datetime, role: str | None = None) -> list[Mandate]:
    """The mandates of ``kinds`` in ``states`` between the two parties (of ``role``, if given)
    that cover one of ``services`` (an active one only in its period): the duplicates a new
    mandate would make. Call with the represented party's lock held (:func:`party_lock`), or
    two requests may both find none and both write."""
    rows = session.execute(select(Mandate).where(
        Mandate.represented_type == represented[0], Mandate.represented_id == represented[1],
        Mandate.representative_type == representative[0],
        Mandate.representative_id == representative[1],
        Mandate.kind.in_(kinds), Mandate.state.in_(states),
        *([Mandate.role == role] if role is not None else []))).scalars()
    return [row for row in rows if set(services) & set(row.services) and (
        row.state != ACTIVE or mandate_in_period(row, now))]


def party_lock(party_type: str, party_id: str) -> str:
    """The :mod:`broker.locks` name held while checking for a duplicate of a mandate this
    party gives."""
    return f"party:{party_type}:{party_id}"


def _person_key(activator: str) -> str:
    """The state-store counter of a person's wrong activation attempts (a digest, no BSN)."""
    return "activation-attempts:" + hashlib.sha256(activator.encode()).hexdigest()[:32]


def _duration_nl(seconds: int) -> str:
    hours = seconds // 3600
    return f"{hours} uur" if hours else f"{max(seconds // 60, 1)} minuten"


def _duration_en(seconds: int) -> str:
    hours = seconds // 3600
    return (f"{hours} hour{'s' * (hours != 1)}" if hours
            else f"{max(seconds // 60, 1)} minutes")


def check_services(catalogue: ServiceCatalogue, services: Sequence[str], accepts: str, *,
                   kind_nl: str = "deze vorm van vertegenwoordiging",
                   kind_en: str = "this kind of representation") -> None:
    """RegisterError unless ``services`` names at least one catalogue service and each accepts
    ``accepts`` (e.g. "voluntary", "legal:bewind", "company", "chain")."""
    if not services:
        raise RegisterError("Kies ten minste één dienst.", "Choose at least one service.")
    for uuid_ in services:
        try:
            service = catalogue.get(uuid_)
        except UnknownServiceError:
            raise RegisterError(f"Onbekende dienst: {uuid_}.", f"Unknown service: {uuid_}.") \
                from None
        if accepts not in service.accepts:
            raise RegisterError(f"Voor {service.name} kan {kind_nl} niet.", f"{service.name} "
                                f"does not accept {kind_en}.")


def _party(mandate: Mandate, side: str) -> str:
    return audit.party(getattr(mandate, side + "_type"), getattr(mandate, side + "_id"))


def audit_mandate_change(session: Session, mandate: Mandate, *, actor: str, action: str,
                         from_state: str | None, to_state: str, reason: str | None,
                         at: datetime) -> None:
    """Append "mandate.<action>" for ``mandate`` to the audit trail (the caller commits)."""
    audit.record(session, actor=actor, action=f"mandate.{action}", subject=mandate.id, at=at,
                 detail={"kind": mandate.kind, "from_state": from_state, "to_state": to_state,
                         "services": list(mandate.services or ()),
                         "represented": _party(mandate, "represented"),
                         "representative": _party(mandate, "representative")
                         if mandate.representative_id else None,
                         "reason": reason})
