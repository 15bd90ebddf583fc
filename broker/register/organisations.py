"""What organisations do in the register: authorise employees, appoint administrators, and give
intermediaries chain mandates (ketenmachtigingen).

Plain Python over a SQLAlchemy session, like :class:`broker.register.service.Register`: every
refusal is a :class:`RegisterError` for the person to read (Dutch / English) and nothing is
written on refusal. Every change is made by an ``actor`` (an employee's eHerkenning pseudonym)
who must administer the organisation concerned: its authorised signatory (tekenbevoegde) or an
authorisation administrator (machtigingenbeheerder) that is not ended. Each mandate change adds
a :class:`MandateEvent`; roles are ended, never deleted.

Chains are checked when a chain mandate is created, not at login: an organisation cannot
mandate itself, no chain may loop back (per service), and no path of chain mandates may hold
more intermediaries than :attr:`Limits.chain_depth`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from sqlalchemy import and_
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

from broker import audit
from broker import identifiers
from broker import loa as levels
from broker import locks
from broker.clock import aware
from broker.clock import utcnow
from broker.register.lookup import in_period
from broker.register.models import ACTIVE
from broker.register.models import EXPIRED
from broker.register.models import MACHTIGINGENBEHEERDER
from broker.register.models import REVOKED
from broker.register.models import TEKENBEVOEGDE
from broker.register.models import Mandate
from broker.register.models import MandateEvent
from broker.register.models import Organisation
from broker.register.models import OrganisationRole
from broker.register.service import Limits
from broker.register.service import RegisterError
from broker.register.service import audit_mandate_change
from broker.register.service import check_services
from broker.register.service import commit_change
from broker.register.service import guarded
from broker.register.service import overlapping
from broker.register.service import party_lock
from broker.services import ServiceCatalogue
from broker.text import Bilingual

#: Levels an eHerkenning authorisation can be registered at (EH2, EH3, EH4).
COMPANY_LEVELS = tuple(levels.ETOEGANG_URI)
NO_SUCH_MANDATE = Bilingual("Deze machtiging bestaat niet.", "This mandate does not exist.")


class Organisations:
    """Operations on organisations' authorisations, roles and chain mandates."""

    def __init__(self, session: Session, catalogue: ServiceCatalogue, *,
                 clock: Callable[[], datetime] = utcnow, limits: Limits | None = None) -> None:
        self._session = session
        self._catalogue = catalogue
        self._clock = clock
        self._limits = limits or Limits()

    # -- the trade register and who administers an organisation -----------------------------

    def organisation(self, kvk: str) -> Organisation:
        """The organisation with KvK number ``kvk`` as typed (spaces and dots allowed)."""
        cleaned = identifiers.clean(kvk)
        if not identifiers.is_kvk(cleaned):
            raise RegisterError("Een KvK-nummer heeft precies 8 cijfers.", "A KvK number has "
                                "exactly 8 digits.")
        found = self._session.get(Organisation, cleaned)
        if found is None:
            raise RegisterError(f"KvK-nummer {cleaned} staat niet in het Handelsregister.", "KvK "
                                f"number {cleaned} is not in the trade register.")
        if not identifiers.is_rsin(found.rsin):
            raise RegisterError(f"Het RSIN van KvK-nummer {cleaned} is ongeldig.", "The RSIN of "
                                f"KvK number {cleaned} is not valid.")
        return found

    def is_administrator(self, kvk: str, pseudonym: str) -> bool:
        """True for the organisation's tekenbevoegde or a machtigingenbeheerder, not ended."""
        return bool(pseudonym) and any(r.pseudonym == pseudonym for r in self.administrators(kvk))

    def administrators(self, kvk: str) -> list[OrganisationRole]:
        return list(self._session.execute(select(OrganisationRole).where(
            OrganisationRole.kvk == kvk, OrganisationRole.ended_at.is_(None),
            OrganisationRole.role.in_((TEKENBEVOEGDE, MACHTIGINGENBEHEERDER)),
        ).order_by(OrganisationRole.id)).scalars())

    def appoint_administrator(self, *, kvk: str, pseudonym: str, actor: str) -> OrganisationRole:
        """``actor`` makes another employee of ``kvk`` a machtigingenbeheerder."""
        organisation = self._administered(kvk, actor)
        pseudonym = pseudonym.strip()
        if not pseudonym or len(pseudonym) > 120:
            raise RegisterError("Kies een medewerker.", "Choose an employee.")
        if pseudonym == actor:
            raise RegisterError("U kunt uzelf niet aanwijzen.", "You cannot appoint yourself.")
        locks.hold(self._session, party_lock("kvk", organisation.kvk))
        if self.is_administrator(organisation.kvk, pseudonym):
            raise RegisterError("Deze medewerker is al beheerder.", "This employee already is an "
                                "administrator.")
        role = OrganisationRole(kvk=organisation.kvk, pseudonym=pseudonym,
                                role=MACHTIGINGENBEHEERDER, appointed_by=actor,
                                appointed_at=self._clock())
        self._session.add(role)
        self._session.flush()  # the role's id, for the audit trail
        self._audit_role(role, "appointed", actor)
        commit_change(self._session)
        return role

    @guarded
    def end_administrator(self, *, kvk: str, role_id: int, actor: str) -> OrganisationRole:
        """End a machtigingenbeheerder's role; a tekenbevoegde comes from the trade register."""
        organisation = self._administered(kvk, actor)
        role = self._session.get(OrganisationRole, role_id)
        if role is None or role.kvk != organisation.kvk or role.ended_at is not None:
            raise RegisterError("Deze beheerder bestaat niet (meer).", "This administrator does "
                                "not exist (any more).")
        if role.role != MACHTIGINGENBEHEERDER:
            raise RegisterError("Een tekenbevoegde staat in het Handelsregister en wordt daar "
                                "gewijzigd.", "An authorised signatory is recorded in the trade "
                                "register and changed there.")
        role.ended_at = self._clock()
        self._audit_role(role, "ended", actor)
        commit_change(self._session)
        return role

    # -- company authorisations (an organisation authorises its employee) -------------------

    def grant_company(self, *, kvk: str, employee: str, services: Sequence[str], loa: str,
                      chain: bool, actor: str, branch: str | None = None,
                      valid_until: datetime | None = None) -> Mandate:
        """Authorise ``employee`` (pseudonym) for ``services`` at level ``loa``.

        ``chain`` lets the employee also use the organisation's chain mandates for these
        services; ``branch`` (vestigingsnummer) restricts the authorisation to that branch.
        """
        organisation = self._administered(kvk, actor)
        employee = employee.strip()
        if not employee or len(employee) > 64 + 1 + 55:
            raise RegisterError("Kies een medewerker.", "Choose an employee.")
        if employee == actor:
            raise RegisterError("U kunt uzelf niet machtigen; vraag een andere beheerder.", "You "
                                "cannot authorise yourself; ask another administrator.")
        if loa not in COMPANY_LEVELS:
            raise RegisterError("Kies een betrouwbaarheidsniveau (EH2, EH3 of EH4).", "Choose a "
                                "level of assurance (EH2, EH3 or EH4).")
        self._check_services(services, "company")
        if chain:
            self._check_services(services, "chain")
        self._check_level(services, loa)
        extra = self._branch(organisation, branch)
        if chain:
            extra["chain"] = True
        until = self._future(valid_until)
        locks.hold(self._session, party_lock("kvk", organisation.kvk))
        if any(row.loa == loa and row.extra == extra for row in overlapping(
                self._session, ("kvk", organisation.kvk), ("pseudonym", employee), services,
                kinds=("company",), states=(ACTIVE,), now=self._clock())):
            raise RegisterError("Deze medewerker heeft deze machtiging al.", "This employee has "
                                "this authorisation already.")
        mandate = self._new("company", ("kvk", organisation.kvk), ("pseudonym", employee),
                            services, loa=loa, valid_until=until, extra=extra)
        self._event(mandate, actor, "granted", None, ACTIVE)
        commit_change(self._session)
        return mandate

    @guarded
    def withdraw_company(self, *, kvk: str, mandate_id: str, actor: str,
                         reason: str | None = None) -> Mandate:
        """Withdraw an employee's authorisation; effective for the very next login."""
        organisation = self._administered(kvk, actor)
        mandate = self._session.get(Mandate, mandate_id)
        if mandate is None or mandate.kind != "company" or (
                mandate.represented_type, mandate.represented_id) != ("kvk", organisation.kvk):
            raise RegisterError(NO_SUCH_MANDATE)
        return self._revoked(mandate, actor, reason)

    # -- chain mandates (a client mandates an intermediary) ---------------------------------

    def give_chain(self, *, client: str, intermediary: str, services: Sequence[str],
                   actor: str, branch: str | None = None,
                   valid_until: datetime | None = None) -> Mandate:
        """``client`` lets ``intermediary`` (KvK number as typed) act for it for ``services``.

        Refused when the intermediary is the client itself, when the mandate would close a
        loop, or when some chain through it would hold more than ``chain_depth`` intermediaries.
        """
        giver = self._administered(client, actor)
        receiver = self.organisation(intermediary)
        if receiver.kvk == giver.kvk or receiver.rsin == giver.rsin:
            raise RegisterError("Een organisatie kan zichzelf geen ketenmachtiging geven.", "An "
                                "organisation cannot give itself a chain mandate.")
        self._check_services(services, "chain")
        extra = self._branch(giver, branch)
        # a loop may run through any organisation: chain changes of a service take turns
        locks.hold(self._session, *(chain_lock(service) for service in services))
        for service in dict.fromkeys(services):
            self._check_chain(giver, receiver, service)
        mandate = self._new("chain", ("kvk", giver.kvk), ("kvk", receiver.kvk), services,
                            loa=None, valid_until=self._future(valid_until), extra=extra)
        self._event(mandate, actor, "given", None, ACTIVE)
        commit_change(self._session)
        return mandate

    @guarded
    def revoke_chain(self, *, mandate_id: str, actor: str, reason: str | None = None) -> Mandate:
        """Either side's administrator ends a chain mandate; the whole chain stops at once."""
        mandate = self._session.get(Mandate, mandate_id)
        if mandate is None or mandate.kind != "chain" or not any(
                self.is_administrator(kvk, actor)
                for kvk in (mandate.represented_id, mandate.representative_id)):
            raise RegisterError(NO_SUCH_MANDATE)
        return self._revoked(mandate, actor, reason)

    # -- listings ----------------------------------------------------------------------------

    def given_by_organisation(self, kvk: str) -> list[Mandate]:
        """Every mandate the organisation gave, registered on its KvK number or its RSIN."""
        return self._listing("represented", self.organisation(kvk))

    def received_by_organisation(self, kvk: str) -> list[Mandate]:
        """Every mandate given to the organisation itself (as intermediary), by KvK or RSIN."""
        return self._listing("representative", self.organisation(kvk))

    def clients_of_intermediary(self, kvk: str) -> list[Mandate]:
        """The active, currently valid chain mandates clients gave this intermediary."""
        now = self._clock()
        return [m for m in self.received_by_organisation(kvk)
                if m.kind == "chain" and m.state == ACTIVE and in_period(m.valid_from, m.valid_until, now)]

    # -- internals ---------------------------------------------------------------------------

    def _administered(self, kvk: str, actor: str) -> Organisation:
        organisation = self.organisation(kvk)
        if not self.is_administrator(organisation.kvk, actor):
            raise RegisterError(
                f"Alleen een tekenbevoegde of machtigingenbeheerder van {organisation.name} mag "
                "dit.", "Only an authorised signatory or authorisation administrator of "
                f"{organisation.name} may do this.")
        return organisation

    def _check_services(self, services: Sequence[str], accepts: str) -> None:
        kind_nl, kind_en = {"company": ("een machtiging van medewerkers",
                                        "employee authorisations"),
                            "chain": ("een ketenmachtiging", "chain mandates")}[accepts]
        check_services(self._catalogue, services, accepts, kind_nl=kind_nl, kind_en=kind_en)

    def _check_level(self, services: Sequence[str], loa: str) -> None:
        for uuid_ in services:
            service = self._catalogue.get(uuid_)
            if not levels.meets(loa, service.min_loa):
                raise RegisterError(f"{service.name} vraagt een hoger betrouwbaarheidsniveau.",
                                    f"{service.name} needs a higher level of assurance.")

    @staticmethod
    def _branch(organisation: Organisation, branch: str | None) -> dict[str, object]:
        if branch is None or not branch.strip():
            return {}
        cleaned = identifiers.clean(branch)
        if not identifiers.is_branch_number(cleaned):
            raise RegisterError("Een vestigingsnummer heeft precies 12 cijfers.", "A branch "
                                "number has exactly 12 digits.")
        if organisation.branch is not None and cleaned != organisation.branch:
            raise RegisterError("Dit vestigingsnummer hoort niet bij deze organisatie.", "This "
                                "branch number does not belong to this organisation.")
        return {"branch": cleaned}

    def _future(self, valid_until: datetime | None) -> datetime | None:
        if valid_until is not None and aware(valid_until) <= self._clock():
            raise RegisterError("De einddatum ligt in het verleden.", "The end date is in the "
                                "past.")
        return aware(valid_until) if valid_until is not None else None

    def _check_chain(self, client: Organisation, intermediary: Organisation,
                     service: str) -> None:
        """Refuse a loop or a too-long chain for ``service`` if client → intermediary is added.

        An edge X → Y is an active chain mandate of X (client) to Y (intermediary). A path of
        n edges puts n intermediaries between the last intermediary's employee and the client.
        """
        match chain_violation(chain_edges(self._session, service, self._clock()),
                              client.kvk, intermediary.kvk, self._limits.chain_depth):
            case Loop():
                raise RegisterError(
                    f"{client.name} vertegenwoordigt {intermediary.name} al (via een keten); "
                    "deze ketenmachtiging zou een kring maken.", f"{client.name} already "
                    f"represents {intermediary.name} (through a chain); this chain mandate would "
                    "make a loop.")
            case AlreadyRepresented():
                raise RegisterError(
                    f"{intermediary.name} vertegenwoordigt {client.name} al voor deze dienst.",
                    f"{intermediary.name} already represents {client.name} for this service.")
            case TooLong(length):
                raise RegisterError(
                    f"Deze ketenmachtiging maakt een keten met {length} intermediairs; hier zijn "
                    f"er hoogstens {self._limits.chain_depth} toegestaan.", "This chain mandate "
                    f"makes a chain with {length} intermediaries; at most "
                    f"{self._limits.chain_depth} are allowed here.")

    def _new(self, kind: str, represented: tuple[str, str], representative: tuple[str, str],
             services: Sequence[str], *, loa: str | None, valid_until: datetime | None,
             extra: dict[str, object]) -> Mandate:
        now = self._clock()
        mandate = Mandate(
            id=str(uuid.uuid4()), kind=kind, role=None,
            represented_type=represented[0], represented_id=represented[1],
            representative_type=representative[0], representative_id=representative[1],
            services=list(dict.fromkeys(services)), loa=loa, valid_from=now,
            valid_until=valid_until, state=ACTIVE, court_reference=None, created_at=now,
            extra=extra)
        self._session.add(mandate)
        return mandate

    def _revoked(self, mandate: Mandate, actor: str, reason: str | None) -> Mandate:
        if self._expire_if_due(mandate) or mandate.state != ACTIVE:
            commit_change(self._session)
            raise RegisterError("Deze machtiging is al beëindigd.", "This mandate has already "
                                "ended.")
        self._event(mandate, actor, "revoked", mandate.state, REVOKED, reason)
        mandate.state = REVOKED
        commit_change(self._session)
        return mandate

    def _event(self, mandate: Mandate, actor: str, action: str, from_state: str | None,
               to_state: str, reason: str | None = None, *, raw_actor: bool = False) -> None:
        """The mandate's history entry and the audit trail's, in the same transaction.
        ``actor`` is an employee's pseudonym, recorded as "eh:<pseudonym>", unless
        ``raw_actor`` ("system")."""
        at, who = self._clock(), actor if raw_actor else f"eh:{actor}"[:100]
        self._session.add(MandateEvent(mandate_id=mandate.id, at=at, actor=who, action=action,
                                       from_state=from_state, to_state=to_state, reason=reason))
        audit_mandate_change(self._session, mandate, actor=who, action=action,
                             from_state=from_state, to_state=to_state, reason=reason, at=at)

    def _audit_role(self, role: OrganisationRole, action: str, actor: str) -> None:
        audit.record(self._session, actor=f"eh:{actor}"[:100], action=f"role.{action}",
                     subject=f"kvk:{role.kvk}", at=self._clock(),
                     detail={"role_id": role.id, "role": role.role,
                             "pseudonym": role.pseudonym})

    def _listing(self, side: str, organisation: Organisation) -> list[Mandate]:
        kind_column = getattr(Mandate, f"{side}_type")
        id_column = getattr(Mandate, f"{side}_id")
        rows = list(self._session.execute(select(Mandate).where(or_(
            and_(kind_column == "kvk", id_column == organisation.kvk),
            and_(kind_column == "rsin", id_column == organisation.rsin),
        )).order_by(Mandate.created_at.desc())).scalars())
        try:
            self._expire_due(rows)
        except RegisterError:  # another request recorded the same expiry at this moment
            return self._listing(side, organisation)
        return rows

    @guarded
    def _expire_due(self, mandates: list[Mandate]) -> None:
        if any([self._expire_if_due(mandate) for mandate in mandates]):
            commit_change(self._session)

    def _expire_if_due(self, mandate: Mandate) -> bool:
        """Record expiry as a state change the first time anyone looks after the end date."""
        until = mandate.valid_until
        if mandate.state == ACTIVE and until is not None and aware(until) <= self._clock():
            self._event(mandate, "system", "expired", ACTIVE, EXPIRED, "end of the period",
                        raw_actor=True)
            mandate.state = EXPIRED
            return True
        return False


def chain_lock(service: str) -> str:
    """The :mod:`broker.locks` name held while checking a new chain mandate for ``service``."""
    return f"chains:{service}"


def chain_edges(session: Session, service: str, now: datetime) -> dict[str, set[str]]:
    """client KvK -> intermediary KvKs, for the active, current chain mandates of ``service``."""
    rows = session.execute(select(  # columns, not entities: a register may hold many
        Mandate.represented_id, Mandate.representative_id, Mandate.services,
        Mandate.valid_from, Mandate.valid_until,
    ).where(
        Mandate.kind == "chain", Mandate.state == ACTIVE,
        Mandate.represented_type == "kvk", Mandate.representative_type == "kvk",
    ))
    edges: dict[str, set[str]] = {}
    for client, intermediary, services, valid_from, valid_until in rows:
        if service in services and in_period(valid_from, valid_until, now):
            edges.setdefault(client, set()).add(intermediary)
    return edges


@dataclass(frozen=True, slots=True)
class Loop:
    """The new chain mandate would close a loop (or a party would mandate itself)."""


@dataclass(frozen=True, slots=True)
class AlreadyRepresented:
    """The intermediary represents the client already, directly or through a chain."""


@dataclass(frozen=True, slots=True)
class TooLong:
    """The chain would put more intermediaries than allowed between employee and client."""

    intermediaries: int


ChainViolation: TypeAlias = Loop | AlreadyRepresented | TooLong


def chain_violation(edges: dict[str, set[str]], client: str, intermediary: str, depth: int,
                    reverse: dict[str, set[str]] | None = None) -> ChainViolation | None:
    """What adding client → intermediary to ``edges`` would break (None: nothing), a chain
    being too long with more than ``depth`` intermediaries. ``reverse`` (intermediary ->
    clients) may be passed by a caller that keeps it up to date."""
    if client == intermediary or client in _reachable(edges, intermediary):
        return Loop()
    if intermediary in _reachable(edges, client):
        return AlreadyRepresented()
    reverse = reverse if reverse is not None else reversed_edges(edges)
    length = _longest(reverse, client) + 1 + _longest(edges, intermediary)
    return TooLong(length) if length > depth else None


def reversed_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    reverse: dict[str, set[str]] = {}
    for source, targets in edges.items():
        for target in targets:
            reverse.setdefault(target, set()).add(source)
    return reverse


def _reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    """Every node reachable from ``start`` (not ``start`` itself unless on a loop)."""
    seen: set[str] = set()
    todo = list(edges.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return seen


def _longest(edges: dict[str, set[str]], start: str, seen: frozenset[str] = frozenset()) -> int:
    """The number of edges on the longest path from ``start`` (loops are never followed)."""
    seen = seen | {start}
    return max((1 + _longest(edges, node, seen) for node in edges.get(start, ()) if node not in seen),
               default=0)
