"""Bulk import of company, chain and voluntary mandates (massaal machtigingen inlezen).

One file format in two spellings: CSV with a header row, or JSON Lines (one object per line),
with the fields of :data:`FIELDS`. In CSV ``services`` holds ServiceUUIDs separated by spaces;
in JSON Lines it is a list. ``loa``, ``branch`` and ``valid_until`` may be empty or absent.

Every row is validated on its own; a refused row is reported by line number with its reason and
never stops the others. Accepted rows are written in batches, each in one transaction, so an
interrupted import leaves every batch either whole or absent. Each mandate carries an
``import_key`` (sha256 of its normalised row): a row whose key is already in the register, or
earlier in the same batch, is skipped, so importing a file twice adds nothing.

The file is streamed, the catalogue is read once, and rows are inserted with Core executemany
(COPY on PostgreSQL). Chain rows obey the register's chain rules (no loop, at most
``chain_depth`` intermediaries), checked a batch of rows at a time against the chain mandates
in force around the batch's parties, read from the database, so memory stays flat in the
file's size: only refused rows are kept (for the report), and the accepted chain rows the
database does not show as in force (a dry run's, and those valid from a later date).
BENCHMARKS.md says what each of the speed measures bought.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import itertools
import json
import os
import re
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import NamedTuple
from typing import TextIO
from typing import TypeVar

from sqlalchemy import String
from sqlalchemy import any_
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from broker import audit
from broker import loa as levels
from broker import locks
from broker.clock import utcnow
from broker.errors import InputError
from broker.identifiers import is_branch_number
from broker.identifiers import is_bsn
from broker.identifiers import is_kvk
from broker.identifiers import is_rsin
from broker.register.models import ACTIVE
from broker.register.models import Mandate
from broker.register.models import MandateEvent
from broker.register.organisations import AlreadyRepresented
from broker.register.organisations import Loop
from broker.register.organisations import TooLong
from broker.register.organisations import chain_lock
from broker.register.organisations import chain_violation
from broker.register.service import in_period
from broker.services import ServiceCatalogue
from broker.text import Bilingual

FIELDS = ("kind", "represented_type", "represented", "representative_type", "representative",
          "services", "loa", "branch", "valid_from", "valid_until")
REQUIRED = ("kind", "represented_type", "represented", "representative_type", "representative",
            "services", "valid_from")
FORMATS = ("csv", "jsonl")
#: mandate kind -> (represented party types, representative party types)
PARTY_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "company": (("kvk", "rsin"), ("pseudonym",)),
    "chain": (("kvk",), ("kvk",)),
    "voluntary": (("bsn",), ("bsn",)),
}
#: rows per transaction: larger batches rewrite the indexes' pages fewer times
BATCH_SIZE = 20_000
KEY_LENGTH = 32
#: SQLite page cache during an import (KiB): random import keys make the index pages hot
SQLITE_CACHE_KIB = 65536
ACTION = "imported"

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z", re.ASCII)
_PSEUDONYM = re.compile(r"^[0-9A-Za-z][0-9A-Za-z@._:-]{0,199}\Z", re.ASCII)
_CHECKS: dict[str, Callable[[str], bool]] = {
    "kvk": is_kvk, "rsin": is_rsin, "bsn": is_bsn, "pseudonym": lambda v: bool(_PSEUDONYM.match(v)),
}
_NAMES = {"kvk": Bilingual("KvK-nummer", "KvK number"), "rsin": Bilingual("RSIN", "RSIN"),
          "bsn": Bilingual("BSN", "BSN"), "pseudonym": Bilingual("pseudoniem", "pseudonym")}


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    why: Bilingual

    @property
    def reason(self) -> str:
        """English."""
        return self.why.en

    @property
    def reason_nl(self) -> str:
        return self.why.nl


@dataclass
class ImportReport:
    accepted: int = 0  #: written (or, in a dry run, that would be written)
    skipped: int = 0  #: already in the register, or a repeat of an earlier row of the file
    rejected: list[Rejection] = field(default_factory=list)
    dry_run: bool = False

    @property
    def rows(self) -> int:
        return self.accepted + self.skipped + len(self.rejected)


class RowError(InputError):
    """One row is refused, the others not; ``nl`` and ``en`` say why."""


class _Row(NamedTuple):
    """A valid row, normalised (a named tuple: made for every row, and fast to make)."""

    kind: str
    represented: tuple[str, str]
    representative: tuple[str, str]
    services: tuple[str, ...]
    loa: str | None
    branch: str | None
    valid_from: date
    valid_until: date | None

    def key(self) -> str:
        """Deterministic over the normalised row: the same mandate always gets the same key.
        128 bits of sha256 (32 hex digits): collision-free in practice, and a smaller unique
        index, which is most of what an import writes."""
        text = "\x1f".join((
            self.kind, *self.represented, *self.representative, " ".join(sorted(self.services)),
            self.loa or "", self.branch or "", self.valid_from.isoformat(),
            self.valid_until.isoformat() if self.valid_until else ""))
        return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


_T = TypeVar("_T")
Parsed = tuple[int, dict[str, Any] | RowError]


def format_for(path: Path, given: str | None = None) -> str:
    """The format named, or the one the extension implies (.csv, .jsonl / .ndjson)."""
    if given:
        if given not in FORMATS:
            raise InputError(f"Onbekend formaat: {given}.", f"Unknown format: {given}.")
        return given
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise InputError(f"Formaat onbekend voor {path.name}; gebruik --format csv of jsonl.",
                     f"Cannot tell the format of {path.name}; use --format csv or jsonl.")


def import_file(session: Session, catalogue: ServiceCatalogue, path: Path, *, actor: str,
                fmt: str | None = None, dry_run: bool = False, batch_size: int = BATCH_SIZE,
                progress: Callable[[int], None] | None = None,
                now: datetime | None = None, chain_depth: int = 1) -> ImportReport:
    """Import ``path`` (streamed); ``progress(n)`` is called with each batch's row count."""
    kind = format_for(path, fmt)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = read_csv(handle) if kind == "csv" else read_jsonl(handle)
        return import_rows(session, catalogue, rows, actor=actor, dry_run=dry_run,
                           batch_size=batch_size, progress=progress, now=now,
                           chain_depth=chain_depth)


def read_csv(handle: TextIO) -> Iterator[Parsed]:
    """(line number, fields) per data row; a bad header is an InputError before any row."""
    reader = csv.reader(handle)
    try:
        header = [name.strip() for name in next(reader, [])]
        _check_header(header)
        width = len(header)
        for values in reader:
            if not values:
                continue
            if len(values) != width:
                yield reader.line_num, RowError(
                    f"{len(values)} velden in plaats van {width}",
                    f"{len(values)} fields instead of {width}")
                continue
            yield reader.line_num, dict(zip(header, values, strict=True))
    except csv.Error as exc:  # e.g. a field beyond the csv module's limit: the rest is unreadable
        raise InputError(f"Regel {reader.line_num} is geen geldige CSV ({exc}); de rest van het "
                         "bestand is niet gelezen.", f"Line {reader.line_num} is not valid CSV "
                         f"({exc}); the rest of the file was not read.") from None


def read_jsonl(handle: TextIO) -> Iterator[Parsed]:
    """(line number, fields) per non-empty line; a line that is not a JSON object is refused."""
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
            yield line, RowError("geen geldige JSON", "not valid JSON")
            continue
        if not isinstance(value, dict):
            yield line, RowError("geen JSON-object", "not a JSON object")
            continue
        unknown = [name for name in value if name not in FIELDS]
        if unknown:
            yield line, RowError(f"onbekend veld {unknown[0][:40]}",
                                 f"unknown field {unknown[0][:40]}")
            continue
        yield line, value


def import_rows(session: Session, catalogue: ServiceCatalogue, rows: Iterable[Parsed], *,
                actor: str, dry_run: bool = False, batch_size: int = BATCH_SIZE,
                progress: Callable[[int], None] | None = None,
                now: datetime | None = None, chain_depth: int = 1) -> ImportReport:
    """Validate every row, then write the new ones batch by batch (one transaction each)."""
    now = now or utcnow()
    validator = _Validator(catalogue, today=now.date())
    report = ImportReport(dry_run=dry_run)
    with _sqlite_cache(session):
        _run(session, validator, rows, report, actor=actor, dry_run=dry_run,
             batch_size=batch_size, progress=progress, now=now, chain_depth=chain_depth)
    return report


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


class _ChainGuard:
    """The chain rules of the register (no loop, at most ``depth`` intermediaries) for imported
    chain rows, checked a run of rows at a time against the chain mandates in force in the
    database around the run's parties (followed step by step, one query per step and
    direction), the edges this import still holds (:class:`_Held`) and the run's own rows
    accepted before. Nothing of committed batches is kept, so memory is flat."""

    def __init__(self, session: Session, depth: int, now: datetime) -> None:
        self._session, self._depth, self._now = session, depth, now
        self._held = _Held()

    def check(self, rows: list[tuple[_Row, str]]) -> list[RowError | None]:
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
        imported = _present(self._session, [rows[i][1] for i in already]) if already else set()
        for i in already:
            if rows[i][1] not in imported:
                results[i] = RowError("de intermediair vertegenwoordigt deze klant al",
                                      "the intermediary already represents this client")
        return results

    def flushed(self, batch: list[tuple[_Row, str]], written: set[str]) -> None:
        """After ``batch``: its chain rows written as in force are the database's now."""
        held = self._held.edges
        for row, key in batch:
            if key in held and key in written and in_period(_midnight(row.valid_from), _midnight(
                    row.valid_until) if row.valid_until else None, self._now):
                self._held.discard(key)

    def _add(self, graph: _Graph, row: _Row, key: str) -> bool:
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
            _among(self._session, Mandate.import_key, keys)))
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
            ).where(_CHAIN_IN_FORCE, _among(self._session, near, sorted(parties))))
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


def _among(session: Session, column: Any, values: list[str]) -> Any:
    """``column IN values`` with one bound parameter (``json_each`` on SQLite, ``= ANY`` on
    PostgreSQL): SQLAlchemy's IN with a bound parameter per value (20,000 import keys) cost
    more than the query itself."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return column.in_(sql_text("SELECT value FROM json_each(:among)").bindparams(
            among=json.dumps(values)).columns(value=String))
    if dialect == "postgresql":
        return column == any_(bindparam("among", values, type_=postgresql.ARRAY(String)))
    return column.in_(values)


def _chunks(rows: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _run(session: Session, validator: _Validator, rows: Iterable[Parsed], report: ImportReport,
         *, actor: str, dry_run: bool, batch_size: int, progress: Callable[[int], None] | None,
         now: datetime, chain_depth: int) -> None:
    """Validate ``batch_size`` rows at a time, check their chain rows together, then take the
    rows in file order into batches of ``batch_size`` accepted rows, each flushed when full;
    a flushed batch's chain rows are the database's from then on."""
    batch: list[tuple[_Row, str]] = []
    consumed = 0
    chains = _ChainGuard(session, chain_depth, now)
    options: dict[str, Any] = {"actor": actor, "now": now, "dry_run": dry_run}
    for chunk in _chunks(rows, batch_size):
        outcomes = _validated(validator, chunk)
        for line, outcome in _chain_checked(chains, outcomes):
            consumed += 1
            if isinstance(outcome, RowError):
                report.rejected.append(Rejection(line, outcome.text))
            else:
                batch.append(outcome)
            if len(batch) >= batch_size:
                chains.flushed(batch, _flush(session, batch, report, **options))
                batch = []
                if progress:
                    progress(consumed)
                consumed = 0
    chains.flushed(batch, _flush(session, batch, report, **options))
    if progress and consumed:
        progress(consumed)


def _validated(validator: _Validator,
               chunk: list[Parsed]) -> list[tuple[int, tuple[_Row, str] | RowError]]:
    """Each row of ``chunk`` validated and keyed, or why not."""
    outcomes: list[tuple[int, tuple[_Row, str] | RowError]] = []
    for line, fields in chunk:
        try:
            row = validator.check(fields)
        except RowError as error:  # without its traceback: no cycle through this frame
            outcomes.append((line, error.with_traceback(None)))
        else:
            outcomes.append((line, (row, row.key())))
    return outcomes


def _chain_checked(chains: _ChainGuard, outcomes: list[tuple[int, tuple[_Row, str] | RowError]]
                   ) -> list[tuple[int, tuple[_Row, str] | RowError]]:
    """``outcomes`` with the chain rows that break the chain rules refused."""
    valid = [(i, outcome) for i, (_, outcome) in enumerate(outcomes)
             if not isinstance(outcome, RowError)]
    objections = chains.check([outcome for _, outcome in valid])
    for (i, _), objection in zip(valid, objections, strict=True):
        if objection is not None:
            outcomes[i] = (outcomes[i][0], objection)
    return outcomes


@contextmanager
def _sqlite_cache(session: Session) -> Iterator[None]:
    """A larger page cache on SQLite while importing; restored afterwards."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    connection = session.connection()
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        session.connection().exec_driver_sql(f"PRAGMA cache_size={int(before)}")
        session.commit()


def _check_header(header: list[str]) -> None:
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in FIELDS]
    if missing or unknown or len(set(header)) != len(header):
        problems = ", ".join([*(f"missing {n}" for n in missing),
                              *(f"unknown {n}" for n in unknown)]) or "a column twice"
        raise InputError(f"De kopregel klopt niet ({problems}); verwacht: {', '.join(FIELDS)}.",
                         f"The header row is wrong ({problems}); expected: {', '.join(FIELDS)}.")


class _Validator:
    """Checks one row against the identifier rules and the catalogue read once at the start."""

    def __init__(self, catalogue: ServiceCatalogue, *, today: date) -> None:
        self._accepts = {service.uuid: frozenset(service.accepts) for service in catalogue}
        self._names = {service.uuid: service.name for service in catalogue}
        self._today = today
        #: checked values that repeat over a file (service lists, periods), by their text
        self._known: dict[tuple[Any, ...], Any] = {}
        #: (kind, services, loa, valid_from, valid_until) as given -> their checked values
        self._passed: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def check(self, fields: dict[str, Any] | RowError) -> _Row:
        """The row, normalised, or RowError for its first fault (in the order of the fields).
        Written for speed, as it runs for every row: few calls, the common case first."""
        if isinstance(fields, RowError):
            raise fields
        get = fields.get
        kind = get("kind")
        kind = kind.strip() if kind.__class__ is str else _text(kind, "kind")
        allowed = PARTY_TYPES.get(kind)
        if allowed is None:
            raise RowError(f"onbekende soort machtiging '{kind}' (company, chain of voluntary)",
                           f"unknown mandate kind '{kind}' (company, chain or voluntary)")
        represented = _party(get, _REPRESENTED, allowed[0], kind)
        representative = _party(get, _REPRESENTATIVE, allowed[1], kind)
        if kind != "company" and represented[1] == representative[1]:
            raise RowError("machtiger en gemachtigde zijn dezelfde partij",
                           "the represented party and the representative are the same")
        branch = get("branch")
        values = (kind, get("services"), get("loa"), get("valid_from"), get("valid_until"))
        try:
            services, loa, valid_from, valid_until = self._passed[values]
        except (KeyError, TypeError):  # not seen yet, or a list (JSON Lines): not a key
            return self._check_slowly(values, represented, representative, branch)
        if branch is not None:
            branch = self._branch(_text(branch, "branch"), kind)
        return _Row(kind, represented, representative, services, loa, branch, valid_from,
                    valid_until)

    def _check_slowly(self, values: tuple[Any, ...], represented: tuple[str, str],
                      representative: tuple[str, str], branch: Any) -> _Row:
        """:meth:`check` for services, level and period not seen together before (in the
        order :meth:`check` promises); remembered together when they pass."""
        kind, services_value, loa_value, start, end = values
        services = self._remember("services", self._services, services_value, kind)
        loa = self._remember("loa", self._loa, loa_value)
        branch = self._branch(_text(branch, "branch"), kind)
        valid_from, valid_until = self._remember("period", self._period, start, end)
        try:
            if len(self._passed) > 10_000:
                self._passed.clear()
            self._passed[values] = (services, loa, valid_from, valid_until)
        except TypeError:
            pass
        return _Row(kind, represented, representative, services, loa, branch, valid_from,
                    valid_until)

    def _remember(self, name: str, check: Callable[..., _T], *args: Any) -> _T:
        """``check(*args)``, remembered when it passes. A refusal is rare and is not
        remembered; neither is a list (JSON Lines services), which cannot be a key."""
        key = (name, *args)
        try:
            return self._known[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        except TypeError:
            return check(*args)
        value = check(*args)
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[key] = value
        return value

    def _services(self, value: Any, kind: str) -> tuple[str, ...]:
        if isinstance(value, str):
            items = value.split()
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            items = [item.strip() for item in value]
        else:
            items = []
        if not items:
            raise RowError("geen dienst opgegeven", "no service given")
        services = tuple(dict.fromkeys(item.lower() for item in items))
        for service in services:
            accepts = self._accepts.get(service)
            if accepts is None:
                raise RowError(f"onbekende dienst {service[:40]}", f"unknown service "
                               f"{service[:40]}")
            if kind not in accepts:
                name = self._names[service]
                raise RowError(f"{name} staat machtigingen van de soort {kind} niet toe",
                               f"{name} does not accept mandates of kind {kind}")
        return services

    def _loa(self, given: Any) -> str | None:
        value = _text(given, "loa")
        if not value:
            return None
        level = value if levels.is_level(value) else levels.from_uri(value)
        if level is None:
            raise RowError(f"onbekend betrouwbaarheidsniveau '{value[:60]}'",
                           f"unknown level of assurance '{value[:60]}' (one of "
                           f"{', '.join(levels.LEVELS)})")
        return level

    def _branch(self, value: str, kind: str) -> str | None:
        if not value:
            return None
        if kind == "voluntary":
            raise RowError("een vestigingsnummer hoort niet bij een machtiging tussen burgers",
                           "a branch number does not belong to a mandate between citizens")
        if not is_branch_number(value):
            raise RowError(f"ongeldig vestigingsnummer '{value[:40]}' (12 cijfers)",
                           f"invalid branch number '{value[:40]}' (12 digits)")
        return value

    def _period(self, start: Any, end: Any) -> tuple[date, date | None]:
        valid_from = self._date(_text(start, "valid_from"), "valid_from")
        end = _text(end, "valid_until")
        if not end:
            return valid_from, None
        valid_until = self._date(end, "valid_until")
        if valid_until <= valid_from:
            raise RowError("valid_until ligt niet na valid_from",
                           "valid_until is not after valid_from")
        if valid_until <= self._today:
            raise RowError("valid_until ligt in het verleden", "valid_until is in the past")
        return valid_from, valid_until

    def _date(self, text: str, name: str) -> date:
        try:
            if not _DATE.match(text):
                raise ValueError(text)
            parsed = date.fromisoformat(text)
        except ValueError:
            raise RowError(f"{name}: geen datum als JJJJ-MM-DD: '{text[:20]}'",
                           f"{name}: not a date as YYYY-MM-DD: '{text[:20]}'") from None
        return parsed


_REPRESENTED = ("represented", "represented_type")
_REPRESENTATIVE = ("representative", "representative_type")


def _party(get: Callable[[str], Any], names: tuple[str, str], allowed: tuple[str, ...],
           kind: str) -> tuple[str, str]:
    """(type, value) of one side of the row, ``names`` being its fields' (value, type)."""
    side, type_name = names
    party_type, value = get(type_name), get(side)
    party_type = (party_type.strip() if party_type.__class__ is str
                  else _text(party_type, type_name))
    value = value.strip() if value.__class__ is str else _text(value, side)
    if party_type not in allowed:
        raise RowError(f"{side}_type '{party_type}' past niet bij {kind} (toegestaan: "
                       f"{', '.join(allowed)})", f"{side}_type '{party_type}' does not fit "
                       f"{kind} (allowed: {', '.join(allowed)})")
    if not _CHECKS[party_type](value):
        nl, en = _NAMES[party_type].nl, _NAMES[party_type].en
        rule_nl, rule_en = {"kvk": ("8 cijfers", "8 digits"),
                            "pseudonym": ("letters, cijfers en @._:-", "letters, digits "
                                          "and @._:-")}.get(
            party_type, ("9 cijfers en de elfproef", "9 digits passing the 11-test"))
        raise RowError(f"{side}: ongeldig {nl} '{value[:40]}' ({rule_nl})",
                       f"{side}: invalid {en} '{value[:40]}' ({rule_en})")
    return party_type, value


def _text(value: Any, name: str) -> str:
    if value.__class__ is str:
        return value.strip()  # type: ignore[no-any-return]
    if value is None:
        return ""
    raise RowError(f"{name} moet tekst zijn", f"{name} must be text")


def _flush(session: Session, batch: list[tuple[_Row, str]], report: ImportReport, *,
           actor: str, now: datetime, dry_run: bool) -> set[str]:
    """Skip rows already present; write the rest, mandates and events, in one transaction.
    Returns the import keys written (none in a dry run)."""
    if not batch:
        return set()
    present = _present(session, [key for _, key in batch])
    new: list[tuple[_Row, str]] = []
    for row, key in batch:
        if key in present:
            report.skipped += 1
        else:
            present.add(key)
            new.append((row, key))
    if not dry_run and new:
        try:
            _write(session, new, actor=actor, now=now)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    elif dry_run:
        session.rollback()  # end the read transaction; nothing was written
    report.accepted += len(new)
    return set() if dry_run else {key for _, key in new}


def _present(session: Session, keys: list[str]) -> set[str]:
    """The subset of ``keys`` already in the register."""
    return set(session.scalars(select(Mandate.import_key).where(
        _among(session, Mandate.import_key, keys))))


_MANDATE_COLUMNS = ("id", "kind", "represented_type", "represented_id", "representative_type",
                    "representative_id", "services", "loa", "valid_from", "valid_until", "state",
                    "created_at", "extra", "import_key")
_EVENT_COLUMNS = ("mandate_id", "at", "actor", "action", "to_state", "reason")


class _Insert:
    """An executemany INSERT of fixed columns, with values converted by the columns' own
    SQLAlchemy types once per distinct value (dates, service lists and times repeat), then
    handed to the driver in one call: SQLAlchemy's per-row parameter processing was half the
    time of an import."""

    def __init__(self, session: Session, table: Any, columns: tuple[str, ...]) -> None:
        dialect = session.get_bind().dialect
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        self._sql = str(compiled)
        self._order = [columns.index(name) for name in compiled.positiontup or ()] \
            if compiled.positional else None
        self._columns = columns
        self._processors = {name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                            for name in columns}
        self._memo: dict[tuple[str, Any], Any] = {}

    def value(self, column: str, value: Any, memo_key: Any = None) -> Any:
        """``value`` as the driver takes it; ``memo_key`` (hashable) caches the conversion."""
        processor = self._processors[column]
        if processor is None or value is None:
            return value
        if memo_key is None:
            return processor(value)
        key = (column, memo_key)
        converted = self._memo.get(key)
        if converted is None:
            if len(self._memo) > 10_000:
                self._memo.clear()
            converted = self._memo[key] = processor(value)
        return converted

    def execute(self, session: Session, rows: list[Any]) -> None:
        if self._order is not None:
            order = self._order
            params: list[Any] = rows if order == list(range(len(order))) else [
                tuple(row[i] for i in order) for row in rows]
        else:
            params = [dict(zip(self._columns, row, strict=True)) for row in rows]
        session.connection().exec_driver_sql(self._sql, params)


class _Copy:
    """PostgreSQL through psycopg: ``COPY table (columns) FROM STDIN`` of fixed columns, in the
    session's transaction. psycopg's executemany sends one INSERT per row (pipelined); COPY
    streams the rows, several times faster. The rows are lines of COPY's text format, made by
    :func:`_copy_lines`: psycopg's ``write_row`` adapting each value was a third of the
    Python time of an import."""

    def __init__(self, session: Session, table: Any, columns: tuple[str, ...]) -> None:
        quote = session.get_bind().dialect.identifier_preparer
        self._sql = (f"COPY {quote.format_table(table)} "
                     f"({', '.join(quote.quote(name) for name in columns)}) FROM STDIN")

    def execute(self, session: Session, rows: list[str]) -> None:
        connection = session.connection().connection.driver_connection
        assert connection is not None  # checked out by the session for this transaction
        with connection.cursor() as cursor, cursor.copy(self._sql) as copy:
            for start in range(0, len(rows), 1000):
                copy.write("".join(rows[start:start + 1000]))


def _copies(session: Session) -> bool:
    """Whether to write with COPY: PostgreSQL through psycopg (else an executemany INSERT)."""
    dialect = session.get_bind().dialect
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def _write(session: Session, rows: list[tuple[_Row, str]], *, actor: str,
           now: datetime) -> None:
    ids = _time_ordered_ids(len(rows))
    if _copies(session):
        mandate_insert: _Insert | _Copy = _Copy(session, Mandate.__table__, _MANDATE_COLUMNS)
        event_insert: _Insert | _Copy = _Copy(session, MandateEvent.__table__, _EVENT_COLUMNS)
        mandates, events = _copy_lines(rows, ids, actor=actor, now=now)
    else:
        mandate_insert = _Insert(session, Mandate.__table__, _MANDATE_COLUMNS)
        event_insert = _Insert(session, MandateEvent.__table__, _EVENT_COLUMNS)
        mandates, events = _insert_rows(mandate_insert, event_insert, rows, ids, actor=actor,
                                        now=now)
    _insert_mandates(session, mandate_insert, mandates)
    _insert_events(session, event_insert, events)
    _audit_batch(session, rows, ids, actor=actor)


def _insert_rows(mandate_insert: _Insert, event_insert: _Insert, rows: list[tuple[_Row, str]],
                 ids: list[str], *, actor: str, now: datetime) -> tuple[list[Any], list[Any]]:
    """The mandates and their events as the driver takes them, in the order of the columns."""
    mandate_value, event_value = mandate_insert.value, event_insert.value
    created, at = mandate_value("created_at", now, "now"), event_value("at", now, "now")
    mandates: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    for (row, key), mandate_id in zip(rows, ids, strict=True):
        until = row.valid_until
        mandates.append((
            mandate_id, row.kind, row.represented[0], row.represented[1],
            row.representative[0], row.representative[1],
            mandate_value("services", list(row.services), row.services), row.loa,
            mandate_value("valid_from", _midnight(row.valid_from), row.valid_from),
            mandate_value("valid_until", _midnight(until), until) if until else None, ACTIVE,
            created, mandate_value("extra", {"branch": row.branch} if row.branch else {},
                                   row.branch or ""), key))
        events.append((mandate_id, at, actor, ACTION, ACTIVE, "bulk import"))
    return mandates, events


def _copy_lines(rows: list[tuple[_Row, str]], ids: list[str], *, actor: str,
                now: datetime) -> tuple[list[str], list[str]]:
    """The mandates and their events as lines of COPY's text format (tab between columns,
    ``\\N`` for NULL). Identifiers, pseudonyms, kinds, levels, dates and keys are validated
    to ASCII letters, digits and ``@._:-``, so only the JSON texts and the actor are escaped.
    Timestamps in ISO 8601 with their offset; JSON as the JSON type would send it."""
    text = _CopyText()
    event_tail = (f"\t{now.isoformat()}\t{_copy_escape(actor)}\t{ACTION}\t{ACTIVE}\t"
                  "bulk import\n")
    middle = f"\t{ACTIVE}\t{now.isoformat()}\t"
    mandates: list[str] = []
    events: list[str] = []
    for (row, key), mandate_id in zip(rows, ids, strict=True):
        represented_type, represented = row.represented
        representative_type, representative = row.representative
        mandates.append(
            f"{mandate_id}\t{row.kind}\t{represented_type}\t{represented}\t"
            f"{representative_type}\t{representative}\t{text.services(row.services)}\t"
            f"{row.loa or _NULL}\t{text.day(row.valid_from)}\t{text.day(row.valid_until)}"
            f"{middle}{text.branch(row.branch)}\t{key}\n")
        events.append(mandate_id + event_tail)
    return mandates, events


_NULL = "\\N"


def _copy_escape(value: str) -> str:
    """``value`` as a column of COPY's text format."""
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


class _CopyText:
    """COPY texts of the values that repeat over a batch, made once per distinct value."""

    def __init__(self) -> None:
        self._services: dict[tuple[str, ...], str] = {}
        self._days: dict[date | None, str] = {None: _NULL}
        self._extras: dict[str | None, str] = {}

    def services(self, services: tuple[str, ...]) -> str:
        text = self._services.get(services)
        if text is None:
            text = self._services[services] = _copy_escape(json.dumps(list(services)))
        return text

    def day(self, day: date | None) -> str:
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = _midnight(day).isoformat()  # type: ignore[arg-type]
        return text

    def branch(self, branch: str | None) -> str:
        text = self._extras.get(branch)
        if text is None:
            text = self._extras[branch] = _copy_escape(json.dumps(
                {"branch": branch} if branch else {}))
        return text


def _audit_batch(session: Session, rows: list[tuple[_Row, str]], ids: list[str], *,
                 actor: str) -> None:
    """One audit entry for the whole batch, in its transaction: how many, which ids (they are
    time-ordered, so first and last bound them) and a digest of the import keys in order."""
    keys = hashlib.sha256("\n".join(key for _, key in rows).encode("ascii")).hexdigest()
    audit.record(session, actor=actor, action="mandates.imported",
                 detail={"count": len(rows), "first_id": ids[0], "last_id": ids[-1],
                         "keys_sha256": keys})


def _insert_mandates(session: Session, statement: _Insert | _Copy, rows: list[Any]) -> None:
    statement.execute(session, rows)


def _insert_events(session: Session, statement: _Insert | _Copy, rows: list[Any]) -> None:
    statement.execute(session, rows)


def _time_ordered_ids(count: int) -> list[str]:
    """UUIDv7-style ids (time first, then a random run): appended to the primary key and the
    events' mandate_id index instead of scattered over them, which is most of SQLite's cost.
    Formatted directly (the same text as ``str(uuid.UUID(...))``, at a third of the cost)."""
    millis = time.time_ns() // 1_000_000
    start = int.from_bytes(os.urandom(8)) >> 2
    high = (millis << 80) | (0x7 << 76) | (int.from_bytes(os.urandom(2)) & 0xFFF) << 64
    ids = []
    for n in range(count):
        h = f"{high | (0b10 << 62) | ((start + n) & ((1 << 62) - 1)):032x}"
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


@functools.lru_cache(maxsize=4096)
def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
