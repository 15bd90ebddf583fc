"""The register's chain rules for imported chain mandates (no loop, at most ``chain_depth``
intermediaries), checked a batch at a time against the chain mandates in force around the
batch's parties, read from the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from broker import locks
from broker.register.bulk_import.report import RowError
from broker.register.bulk_import.rows import Row
from broker.register.bulk_import.rows import midnight
from broker.register.bulk_import.writer import among
from broker.register.bulk_import.writer import present_keys
from broker.register.lookup import in_period
from broker.register.models import ACTIVE
from broker.register.models import Mandate
from broker.register.organisations import AlreadyRepresented
from broker.register.organisations import Loop
from broker.register.organisations import TooLong
from broker.register.organisations import chain_lock
from broker.register.organisations import chain_violation

#: one chain edge: (client KvK, intermediary KvK, services)
_Edge = tuple[str, str, tuple[str, ...]]


class _Held:
    """Chain edges accepted by this import that the database does not show as in force: those
    of the batch not yet written, and those that will not be (a dry run, a ``valid_from`` after
    now, a row whose import key was present already). Usually no more than a batch's."""

    def __init__(self) -> None:
        self.edges: dict[str, _Edge] = {}  #: by import key
        self._from: dict[str, set[str]] = {}  #: client -> import keys
        self._to: dict[str, set[str]] = {}  #: intermediary -> import keys

    def add(self, key: str, edge: _Edge) -> None:
        self.edges[key] = edge
        self._from.setdefault(edge[0], set()).add(key)
        self._to.setdefault(edge[1], set()).add(key)

    def discard(self, key: str) -> None:
        edge = self.edges.pop(key, None)
        if edge is not None:
            for index, node in ((self._from, edge[0]), (self._to, edge[1])):
                index[node].discard(key)
                if not index[node]:
                    del index[node]

    def around(self, nodes: set[str], forward: bool) -> list[_Edge]:
        """The held edges leaving (``forward``) or entering ``nodes``."""
        index = self._from if forward else self._to
        return [self.edges[key] for node in nodes & index.keys() for key in index[node]]


class _Graph:
    """Per service, client -> intermediaries and its reverse, for :func:`chain_violation`."""

    def __init__(self, edges: Iterable[_Edge]) -> None:
        self.edges: dict[str, dict[str, set[str]]] = {}
        self.reverse: dict[str, dict[str, set[str]]] = {}
        for edge in edges:
            self.add(edge)

    def add(self, edge: _Edge) -> None:
        client, intermediary, services = edge
        for service in services:
            self.edges.setdefault(service, {}).setdefault(client, set()).add(intermediary)
            self.reverse.setdefault(service, {}).setdefault(intermediary, set()).add(client)


class ChainGuard:
    """The chain rules of the register (no loop, at most ``depth`` intermediaries) for imported
    chain rows, checked a run of rows at a time against the chain mandates in force in the
    database around the run's parties (followed step by step, one query per step and
    direction), the edges this import still holds (:class:`_Held`) and the run's own rows
    accepted before. Nothing of committed batches is kept, so memory is flat."""

    def __init__(self, session: Session, depth: int, now: datetime) -> None:
        self._session, self._depth, self._now = session, depth, now
        self._held = _Held()

    def check(self, rows: list[tuple[Row, str]]) -> list[RowError | None]:
        """Per row, in order, what the chain rules object (None: nothing); each accepted chain
        row counts for the rows after it. The same chain row again (same import key, in this
        file or imported before) is no violation: it is skipped later."""
        results: list[RowError | None] = [None] * len(rows)
        chain = [i for i, (row, key) in enumerate(rows)
                 if row.kind == "chain" and key not in self._held.edges]
        if chain:
            in_force = self._in_force_keys([rows[i][1] for i in chain])
            chain = [i for i in chain if rows[i][1] not in in_force]
        if not chain:
            return results
        # as the organisation portal does: chain changes of one service take turns (the lock
        # lasts until the next batch commits)
        locks.hold(self._session, *{chain_lock(service) for i in chain
                                    for service in rows[i][0].services})
        graph = _Graph(self._around({party for i in chain for party in (
            rows[i][0].represented[1], rows[i][0].representative[1])}))
        already: list[int] = []
        for i in chain:
            row, key = rows[i]
            try:
                if key not in self._held.edges and self._add(graph, row, key):
                    already.append(i)
            except RowError as error:
                results[i] = error
        imported = present_keys(self._session, [rows[i][1] for i in already]) if already else set()
        for i in already:
            if rows[i][1] not in imported:
                results[i] = RowError("de intermediair vertegenwoordigt deze klant al",
                                      "the intermediary already represents this client")
        return results

    def flushed(self, batch: list[tuple[Row, str]], written: set[str]) -> None:
        """After ``batch``: its chain rows written as in force are the database's now."""
        held = self._held.edges
        for row, key in batch:
            if key in held and key in written and in_period(midnight(row.valid_from), midnight(
                    row.valid_until) if row.valid_until else None, self._now):
                self._held.discard(key)

    def _add(self, graph: _Graph, row: Row, key: str) -> bool:
        """Add the row's edge, or raise RowError; True (nothing added) when the intermediary
        represents the client already: refused unless the row was imported before."""
        edge = (row.represented[1], row.representative[1], row.services)
        for service in row.services:
            match chain_violation(graph.edges.get(service, {}), edge[0], edge[1], self._depth,
                                  graph.reverse.get(service, {})):
                case AlreadyRepresented():
                    return True
                case Loop():
                    raise RowError("deze ketenmachtiging maakt een kring",
                                   "this chain mandate would make a loop")
                case TooLong(length):
                    raise RowError(f"keten te lang ({length} intermediairs, hoogstens "
                                   f"{self._depth})", f"chain too long ({length} "
                                   f"intermediaries, at most {self._depth})")
        graph.add(edge)
        self._held.add(key, edge)
        return False

    def _in_force_keys(self, keys: list[str]) -> set[str]:
        """The ``keys`` of chain mandates in force in the database. Such a row is its own edge
        in the graph, so the rules would find the intermediary represents the client already,
        imported before: no objection, and no graph to build (a re-import of a whole file).
        Filtered here, not in SQL, so that PostgreSQL looks the keys up in their own index."""
        columns = (Mandate.import_key, Mandate.valid_from, Mandate.valid_until,
                   *(getattr(Mandate, name) for name in _CHAIN))
        rows = self._session.execute(select(*columns).where(
            among(self._session, Mandate.import_key, keys)))
        chain = tuple(_CHAIN.values())
        return {key for key, valid_from, valid_until, *kind in rows
                if tuple(kind) == chain and in_period(valid_from, valid_until, self._now)}

    def _around(self, parties: set[str]) -> set[_Edge]:
        """Every chain edge (in force in the database, or held) on a path from or to
        ``parties``: all that the rules look at for edges between them."""
        found: set[_Edge] = set()
        for forward in (True, False):
            seen, frontier = set(parties), set(parties)
            while frontier:
                step = self._in_force(frontier, forward) + self._held.around(frontier, forward)
                found.update(step)
                frontier = {edge[1] if forward else edge[0] for edge in step} - seen
                seen |= frontier
        return found

    def _in_force(self, parties: set[str], forward: bool) -> list[_Edge]:
        """The database's active, current chain mandates from (``forward``) or to
        ``parties``, as :func:`chain_edges` reads them."""
        near = Mandate.represented_id if forward else Mandate.representative_id
        if self._session.get_bind().dialect.name == "postgresql":
            rows: Any = self._session.execute(sql_text(_PARTIES_LATERAL.format(
                near=near.name, chain=_CHAIN_IN_FORCE.text)), {"parties": ",".join(parties)})
        else:
            rows = self._session.execute(select(
                Mandate.represented_id, Mandate.representative_id, Mandate.services,
                Mandate.valid_from, Mandate.valid_until,
            ).where(_CHAIN_IN_FORCE, among(self._session, near, sorted(parties))))
        return [(client, intermediary, tuple(services))
                for client, intermediary, services, valid_from, valid_until in rows
                if in_period(valid_from, valid_until, self._now)]


#: what a chain mandate in force is, besides its period (:func:`chain_edges`' filter)
_CHAIN = {"kind": "chain", "state": ACTIVE, "represented_type": "kvk",
          "representative_type": "kvk"}


#: the constants written out, not bound, so that a prepared statement's plan knows them
_CHAIN_IN_FORCE = sql_text(" AND ".join(f"mandate.{name} = '{value}'"
                                        for name, value in _CHAIN.items()))


#: on PostgreSQL one index probe per party, forced by LATERAL with OFFSET 0 (which keeps the
#: planner from flattening it): with ``= ANY(list)`` or a join the planner, its statistics
#: taken while the import's table was small, scanned the chain mandates and compared each
#: with the whole list (10,000 parties: a minute per batch)
_PARTIES_LATERAL = (
    "SELECT m.represented_id, m.representative_id, m.services, m.valid_from, m.valid_until "
    "FROM unnest(string_to_array(:parties, ',')) AS given(party) CROSS JOIN LATERAL ("
    "SELECT * FROM mandate WHERE mandate.{near} = given.party AND {chain} OFFSET 0) AS m")
