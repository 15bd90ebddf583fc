"""The register's read path: the mandates a representative may use now, as the chooser's
look-up needs them (the mandate plugins call it at every login).

Only reads; nothing here changes the register. The statements are built once, and the
plugins' look-ups share what they read through :func:`broker.pipeline.lookup_memo`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from typing import NamedTuple

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import Text
from sqlalchemy import bindparam
from sqlalchemy import cast
from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.clock import aware
from broker.pipeline import lookup_memo
from broker.register.models import ACTIVE
from broker.register.models import Mandate
from broker.register.models import Organisation
from broker.register.models import Person


def usable_mandates(session: Session, representative_type: str, representative_id: str,
                    service: str, kinds: Sequence[str], now: datetime) -> list[Mandate]:
    """The representative's active mandates of ``kinds`` that cover ``service`` and are valid
    at ``now``. One query on ix_mandate_representative; it needs no catalogue."""
    rows = session.scalars(_USABLE, _held_by(representative_type, representative_id, kinds))
    return [mandate for mandate in rows if _covers(mandate, service, now)]


class UsableMandate(NamedTuple):
    """What the chooser needs of one usable mandate, read as a plain row (no ORM object), with
    the name of the party it represents."""

    id: str
    kind: str
    role: str | None
    represented_type: str
    represented_id: str
    services: tuple[str, ...]
    loa: str | None
    extra_json: str | None  #: the ``extra`` column as stored; see :attr:`extra`
    valid_from: datetime
    valid_until: datetime | None
    #: from the population register (a BSN) or the trade register (a KvK number), see
    #: :func:`usable_named`; None when not found
    name: str | None

    @property
    def extra(self) -> Any:
        """The ``extra`` column, decoded when asked for: only a company mandate's is read."""
        return None if self.extra_json is None else json.loads(self.extra_json)


def usable_named(session: Session, representative_type: str, representative_id: str,
                 service: str, kinds: Sequence[str], now: datetime, *, represented_type: str,
                 also: Sequence[tuple[str, str]] = ()) -> list[UsableMandate]:
    """What the chooser offers at login: the mandates :func:`usable_mandates` finds (the same,
    in the same order), each with the name of the party it represents when that party is of
    ``represented_type`` ("bsn": from the population register, "kvk": from the trade
    register; else, or not found: None), in the same query.

    The statement reads all the representative's active mandates, of every kind. Within one
    :func:`broker.pipeline.gather` they are read once and kept for every later call for the
    same representative and ``represented_type``, whichever plugin makes it (a citizen's
    voluntary and legal mandates: one statement, not two); ``also`` names other
    representatives (type, id) the caller will ask for next in this lookup, read in the same
    statement (outside a gather it is ignored)."""
    return [row for row in _held_named(session, (representative_type, representative_id),
                                       represented_type, also)
            if row.kind in kinds and _covers(row, service, now)]


def _held_named(session: Session, party: tuple[str, str], represented_type: str,
                also: Sequence[tuple[str, str]]) -> list[UsableMandate]:
    """Every active mandate ``party`` holds, with names (:func:`usable_named`): from the
    lookup's memo, else read with those of ``also`` that it does not have yet."""
    memo = lookup_memo()
    if memo is None:
        return _read_held_named(session, [party], represented_type)[party]
    key = ("usable_named", session, represented_type)
    if (*key, *party) not in memo:
        parties = list(dict.fromkeys(p for p in (party, *also) if (*key, *p) not in memo))
        for read, rows in _read_held_named(session, parties, represented_type).items():
            memo[(*key, *read)] = rows
    return memo[(*key, *party)]  # type: ignore[no-any-return]


def _read_held_named(session: Session, parties: Sequence[tuple[str, str]],
                     represented_type: str) -> dict[tuple[str, str], list[UsableMandate]]:
    """One statement: the active mandates of each of ``parties``, in index order."""
    if session.autoflush:
        session.flush()  # as the ORM's own queries do: see what the session holds
    types, ids = sorted({type_ for type_, _ in parties}), sorted({id_ for _, id_ in parties})
    rows = session.connection().execute(
        _held_named_statement(represented_type, len(types), len(ids)),
        {**{f"type{n}": type_ for n, type_ in enumerate(types)},
         **{f"id{n}": id_ for n, id_ in enumerate(ids)}})
    found: dict[tuple[str, str], list[UsableMandate]] = {party: [] for party in parties}
    for (representative_type, representative_id, id_, kind, role, represented_type_,
         represented_id, services, loa, extra, valid_from, valid_until, name) in rows:
        held = found.get((representative_type, representative_id))
        if held is not None:  # not a pair of one party's type and another's id
            held.append(UsableMandate(id_, kind, role, represented_type_, represented_id,
                                      _services(services), loa, extra, valid_from,
                                      valid_until, name))
    return found


def _held_by(party_type: str, party_id: str, kinds: Sequence[str]) -> dict[str, Any]:
    return {"party_type": party_type, "party_id": party_id, "kinds": list(kinds)}


def _covers(mandate: Mandate | UsableMandate, service: str, now: datetime) -> bool:
    return service in mandate.services and mandate_in_period(mandate, now)


#: the statements are built once: building one took half as long as running it
_HELD_BY = (Mandate.representative_type == bindparam("party_type"),
            Mandate.representative_id == bindparam("party_id"),
            Mandate.state == ACTIVE, Mandate.kind.in_(bindparam("kinds", expanding=True)))


_USABLE = select(Mandate).where(*_HELD_BY)


_M = Mandate.__table__.c


@functools.lru_cache(maxsize=64)
def _held_named_statement(represented_type: str, types: int, ids: int) -> Select[Any]:
    """The active mandates of representatives of ``types`` types (type0, ...) and ``ids`` ids
    (id0, ...), named as :func:`usable_named` says; built once for each shape.

    Where the time went, and so the statement's form: Core columns and plain rows (the ORM's
    objects cost more than the query for a long list); plain parameters (an expanding IN costs
    more to run, and the usual lookup has one party); the name from a scalar subquery
    (PostgreSQL plans it in half the time of a LEFT JOIN, and plans the statement in every
    transaction: psycopg forgets its prepared statements at each rollback); the JSON columns
    as text, decoded by :func:`_services` and :attr:`UsableMandate.extra`."""
    person, organisation = Person.__table__.c, Organisation.__table__.c
    key, name = {"bsn": (person.bsn, person.name),
                 "kvk": (organisation.kvk, organisation.name)}[represented_type]
    return select(
        _M.representative_type, _M.representative_id, _M.id, _M.kind, _M.role,
        _M.represented_type, _M.represented_id, cast(_M.services, Text), _M.loa,
        cast(_M.extra, Text), _M.valid_from, _M.valid_until,
        select(name).where(_M.represented_type == represented_type, key == _M.represented_id)
        .scalar_subquery(),
    ).where(_one_of(_M.representative_type, "type", types),
            _one_of(_M.representative_id, "id", ids), _M.state == ACTIVE)


def _one_of(column: ColumnElement[str], name: str, count: int) -> ColumnElement[bool]:
    if count == 1:
        return column == bindparam(f"{name}0")
    return column.in_([bindparam(f"{name}{n}") for n in range(count)])


@functools.lru_cache(maxsize=4096)
def _services(stored: str) -> tuple[str, ...]:
    """A ``services`` column as stored (a JSON list): most mandates share one of a few lists,
    so each is decoded once (the same tuple for all, which nobody may change)."""
    return tuple(json.loads(stored))


def mandate_in_period(mandate: Mandate | UsableMandate, now: datetime) -> bool:
    return in_period(mandate.valid_from, mandate.valid_until, now)


def in_period(valid_from: datetime, valid_until: datetime | None, now: datetime) -> bool:
    """Whether ``now`` lies in [valid_from, valid_until) (no end: open-ended)."""
    return aware(valid_from) <= now and (valid_until is None or now < aware(valid_until))
