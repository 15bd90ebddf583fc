"""Chooser lookup benchmark: how long the broker takes to find the options of one logged-in person
for one service ("on whose behalf do you want to log in?"), over a register of millions of mandates.

Usage::

    # 10 million mandates in a new PostgreSQL database (created here, dropped at the end)
    .venv/bin/python benchmarks/chooser_lookup.py \\
        --database-url postgresql://root@127.0.0.1/bench_chooser --mandates 10000000
    # 1 million mandates in SQLite (a temporary folder)
    .venv/bin/python benchmarks/chooser_lookup.py --mandates 1000000

The schema comes from the broker's migrations. The register is filled in SQL (INSERT ... SELECT
over a generated series, deterministic hashes of the row number), with the mandate table's
secondary indexes dropped during the load and created again from their own definitions:

- 55% voluntary DigiD mandates (bsn -> bsn), 5% legal representation (bsn -> bsn, with a role),
  35% company authorisations (kvk -> employee pseudonym), 5% chain mandates (client kvk ->
  intermediary kvk); 85% active, the rest revoked, expired, requested or lapsed;
- the representatives are drawn at random, so most people have 0 to 3 mandates; a few have
  many: professional representatives (about 255 each), employees with about 35
  authorisations, and big administration offices with about 500 chain clients each (ordinary
  offices about 45);
- the population register (brp_person) holds every represented person, the trade register
  every company and office, so the plugins' name lookups find what they look for.

The measured call is the one the chooser page makes: ``broker.pipeline.gather`` over the
plugins of the demo configuration (digid_machtigen, legal_representation, eherkenning,
chain_mandates), built by the broker's own ``create_app``, for a DigiD login (service
Inkomstenbelasting) or an eHerkenning login (service Aangifte omzetbelasting). Each lookup is
timed alone, on a connection already checked out (a request has loaded its flow before it asks
the plugins); its transaction is committed after each and the session ended, as the chooser's
request does (a ROLLBACK would make psycopg forget its prepared statements). Warm: a warm-up of
the same mix runs first. ``--profile`` runs cProfile over the mix; ``--explain`` shows the
statements of one lookup per class with EXPLAIN ANALYZE (PostgreSQL) or EXPLAIN QUERY PLAN.

``--against REV`` measures the chooser as it was at git revision REV beside the work tree's, in
one process, on the same database and the same lookups, in alternating rounds (``--rounds``):
REV's ``broker/pipeline.py``, ``broker/register/lookup.py`` (``service.py`` before it had one)
and plugin modules are loaded as a package of their own (their imports of each other pointed
there), and both must give the same options (parties, names, links, order) for every lookup
before anything is timed.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import importlib
import io
import os
import pstats
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fresh_database import fresh_database  # noqa: E402
from fresh_database import migrated_app  # noqa: E402
from fresh_database import versions  # noqa: E402

from broker.app import create_app  # noqa: E402
from broker.config import demo_config  # noqa: E402
from broker.config import load_settings  # noqa: E402
from broker.demo.seed import seed  # noqa: E402
from broker.identity import Identity  # noqa: E402
from broker.identity import Party  # noqa: E402
from broker.pipeline import gather  # noqa: E402
from broker.saml.names import ETD_SERVICE_UUID  # noqa: E402
from broker.services import Service  # noqa: E402
from broker.services import ServiceCatalogue  # noqa: E402
from broker.web.database import db  # noqa: E402

INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"  # DigiD: voluntary, legal:bewind, curatele
TOESLAGEN = "1373be8a-5091-5838-ac0d-b3234dc1fa5f"
ZORG = "e00bfadf-3129-5f5d-88eb-63e4ca833c5d"
OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"  # eHerkenning: company and chain
LOONAANGIFTE = "6a1f1c52-3b6e-5c8e-8d1a-58f5d0f0e7a2"  # not in the catalogue; only stored
PLUGINS = {"machtigen": {"type": "digid_machtigen"}, "wettelijk": {"type": "legal_representation"},
           "bedrijf": {"type": "eherkenning"}, "keten": {"type": "chain_mandates"}}
BSN_BASE, COMPANY_BASE, OFFICE_BASE = 100_000_000, 11_000_000, 95_000_000
CHUNK = 1_000_000
EMPLOYEES_PER_OFFICE = 4


@dataclass(frozen=True)
class World:
    """The sizes of the generated register, all derived from the number of mandates."""

    mandates: int

    @property
    def kinds(self) -> dict[str, tuple[int, int]]:
        """kind -> [first, end) row numbers."""
        bounds = [0, self.mandates * 55 // 100, self.mandates * 60 // 100,
                  self.mandates * 95 // 100, self.mandates]
        return {kind: (bounds[n], bounds[n + 1])
                for n, kind in enumerate(("voluntary", "legal", "company", "chain"))}

    citizens = property(lambda self: self.mandates * 40 // 100)  #: representatives [0, citizens)
    people = property(lambda self: self.mandates * 80 // 100)  #: everybody represented
    heavy_citizens = property(lambda self: max(self.mandates // 20_000, 5))  #: after people
    employees = property(lambda self: self.mandates * 25 // 100)
    heavy_employees = property(lambda self: max(self.mandates // 100_000, 5))  #: after employees
    companies = property(lambda self: (self.employees + self.heavy_employees) // 3 + 1)
    offices = property(lambda self: max(self.mandates // 1_000, 10))
    big_offices = property(lambda self: max(self.mandates // 100_000, 2))  #: after offices
    office_rows = property(lambda self: (self.offices + self.big_offices) * EMPLOYEES_PER_OFFICE)


# -- generating the register --------------------------------------------------------------------

@dataclass(frozen=True)
class Dialect:
    name: str
    series: Callable[[int, int], str]  #: FROM item with column i over [start, stop)
    hex8: Callable[[str], str]
    json: Callable[[str], str]
    moment: Callable[[str], str]  #: a midnight UTC timestamp literal, from YYYY-MM-DD
    day: Callable[[str], str]


POSTGRESQL = Dialect(
    "postgresql",
    series=lambda start, stop: f"generate_series({start}, {stop - 1}) AS s(i)",
    hex8=lambda x: f"lpad(to_hex({x}), 8, '0')",
    json=lambda x: f"CAST({x} AS JSON)",
    moment=lambda day: f"TIMESTAMPTZ '{day} 00:00:00+00'",
    day=lambda day: f"DATE '{day}'",
)
SQLITE = Dialect(
    "sqlite",
    series=lambda start, stop: (f"(WITH RECURSIVE s(i) AS (SELECT {start} UNION ALL SELECT i + 1 "
                                f"FROM s WHERE i + 1 < {stop}) SELECT i FROM s) AS s"),
    hex8=lambda x: f"printf('%08x', {x})",
    json=lambda x: x,
    moment=lambda day: f"'{day} 00:00:00.000000'",
    day=lambda day: f"'{day}'",
)


def _hashint8(value: int) -> int:
    """For SQLite: a 32-bit hash of an integer (PostgreSQL has ``hashint8`` built in)."""
    return int.from_bytes(hashlib.blake2b(value.to_bytes(8, "little", signed=True),
                                          digest_size=4).digest(), "little", signed=True)


def _md5(value: Any) -> str:
    return hashlib.md5(str(value).encode()).hexdigest()


def _services(dialect: Dialect, *uuids: str) -> str:
    return dialect.json("'[" + ", ".join(f'"{u}"' for u in uuids) + "]'")


def _mandate_sql(dialect: Dialect, world: World, kind: str, start: int, stop: int) -> str:
    """INSERT ... SELECT of mandate rows [start, stop) of one kind."""
    d = dialect
    moment, json = d.moment, d.json
    pending = "requested" if kind == "voluntary" else "revoked"
    state = (f"CASE WHEN d % 100 < 85 THEN 'active' WHEN d % 100 < 92 THEN 'revoked' "
             f"WHEN d % 100 < 96 THEN 'expired' WHEN d % 100 < 98 THEN '{pending}' "
             f"ELSE 'active' END")
    until = (f"CASE WHEN d % 100 >= 98 OR (d % 100 >= 92 AND d % 100 < 96) THEN "
             f"{moment('2026-06-30')} WHEN (e / 7) % 2 = 0 THEN NULL "
             f"ELSE {moment('2030-12-31')} END")

    def bsn(x: str) -> str:
        return f"CAST({BSN_BASE} + {x} AS TEXT)"

    empty, chain = json("'{}'"), json("'{\"chain\": true}'")
    if kind == "voluntary":
        columns = (
            "NULL", "'bsn'", bsn(f"a % {world.people}"), "'bsn'",
            bsn(f"CASE WHEN c % 1000 < 5 THEN {world.people} + b % {world.heavy_citizens} "
                f"ELSE b % {world.citizens} END"),
            f"CASE e % 3 WHEN 0 THEN {_services(d, INKOMSTEN)} WHEN 1 THEN "
            f"{_services(d, TOESLAGEN)} ELSE {_services(d, INKOMSTEN, TOESLAGEN)} END",
            "NULL", state, until, "NULL", empty)
    elif kind == "legal":
        columns = (
            "CASE e % 4 WHEN 0 THEN 'bewind' WHEN 1 THEN 'curatele' WHEN 2 THEN 'mentorschap' "
            "ELSE 'ouderlijk_gezag' END", "'bsn'", bsn(f"a % {world.people}"), "'bsn'",
            bsn(f"CASE WHEN c % 100 < 20 THEN {world.people} + b % {world.heavy_citizens} "
                f"ELSE b % {world.citizens} END"),
            f"CASE e % 4 WHEN 0 THEN {_services(d, INKOMSTEN, TOESLAGEN)} WHEN 1 THEN "
            f"{_services(d, INKOMSTEN, ZORG)} ELSE {_services(d, ZORG)} END",
            "NULL", state, until, "'C/13/' || i", empty)
    elif kind == "company" and start < world.kinds["company"][0] + world.office_rows:
        first = world.kinds["company"][0]
        office, number = f"((i - {first}) / {EMPLOYEES_PER_OFFICE})", \
            f"((i - {first}) % {EMPLOYEES_PER_OFFICE})"
        columns = (
            "NULL", "'kvk'", f"CAST({OFFICE_BASE} + {office} AS TEXT)", "'pseudonym'",
            f"md5('o' || {office} || '-' || {number}) || md5('p' || {office} || '-' || {number})"
            f" || '@' || substr(md5('x' || {office}), 1, 32)",
            _services(d, OMZET), "'substantial'", "'active'", "NULL", "NULL",
            chain)
    elif kind == "company":
        q = (f"(CASE WHEN c % 1000 < 1 THEN {world.employees} + b % {world.heavy_employees} "
             f"ELSE b % {world.employees} END)")
        columns = (
            "NULL", "'kvk'", f"CAST({COMPANY_BASE} + {q} / 3 AS TEXT)", "'pseudonym'",
            f"md5('e' || {q}) || md5('f' || {q}) || '@' || substr(md5('k' || ({q} / 3)), 1, 32)",
            f"CASE WHEN e % 5 = 0 THEN {_services(d, OMZET, LOONAANGIFTE)} ELSE "
            f"{_services(d, OMZET)} END",
            "CASE e % 3 WHEN 0 THEN NULL WHEN 1 THEN 'substantial' ELSE 'high' END", state, until,
            "NULL", f"CASE WHEN c % 20 = 1 THEN {chain} ELSE {empty} END")
    else:
        columns = (
            "NULL", "'kvk'", f"CAST({COMPANY_BASE} + a % {world.companies} AS TEXT)", "'kvk'",
            f"CAST({OFFICE_BASE} + CASE WHEN c % 10 = 0 THEN {world.offices} + b % "
            f"{world.big_offices} ELSE b % {world.offices} END AS TEXT)",
            _services(d, OMZET), "NULL", state, until, "NULL", empty)
    role, represented_type, represented, representative_type, representative, services, loa, \
        state_, valid_until, court, extra = columns
    hashed = ", ".join(f"(hashint8(i * 8 + {n}) & 2147483647) AS {name}"
                       for n, name in enumerate("abcde", start=1))
    return (
        "INSERT INTO mandate (id, kind, role, represented_type, represented_id, "
        "representative_type, representative_id, services, loa, valid_from, valid_until, state, "
        "court_reference, created_at, extra, import_key) "
        f"SELECT {d.hex8('i')} || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-8' || "
        f"substr(h, 18, 3) || '-' || substr(h, 21, 12), '{kind}', {role}, {represented_type}, "
        f"{represented}, {representative_type}, {representative}, {services}, {loa}, "
        f"{moment('2025-01-01')}, {valid_until}, {state_}, {court}, {moment('2025-01-01')}, "
        f"{extra}, NULL "
        f"FROM (SELECT i, md5('m' || i) AS h, {hashed} FROM {d.series(start, stop)}) AS r")


def _chunks(world: World) -> Iterator[tuple[str, int, int]]:
    """(kind, start, stop): at most CHUNK rows, the office employees' rows apart."""
    for kind, (first, end) in world.kinds.items():
        cuts = [first, *range(first + CHUNK, end, CHUNK), end]
        if kind == "company":
            cuts = sorted({*cuts, first + world.office_rows})
        yield from ((kind, a, b) for a, b in zip(cuts, cuts[1:], strict=False) if a < b)


def _registers_sql(dialect: Dialect, world: World) -> list[tuple[str, str]]:
    """(what, INSERT ... SELECT) for the population and trade registers."""
    people = world.people + world.heavy_citizens
    return [
        (f"{people:,} people", "INSERT INTO brp_person (bsn, name, birth_date) "
         f"SELECT CAST({BSN_BASE} + i AS TEXT), 'Persoon ' || i, {dialect.day('1970-01-01')} "
         f"FROM {dialect.series(0, people)}"),
        (f"{world.companies:,} companies", "INSERT INTO organisation (kvk, rsin, name, branch) "
         f"SELECT CAST({COMPANY_BASE} + i AS TEXT), CAST(800000000 + i AS TEXT), "
         f"'Bedrijf ' || i, NULL FROM {dialect.series(0, world.companies)}"),
        (f"{world.offices + world.big_offices:,} offices", "INSERT INTO organisation "
         f"(kvk, rsin, name, branch) SELECT CAST({OFFICE_BASE} + i AS TEXT), "
         f"CAST(900000000 + i AS TEXT), 'Administratiekantoor ' || i, NULL "
         f"FROM {dialect.series(0, world.offices + world.big_offices)}"),
    ]


def generate(app: Flask, world: World) -> None:
    """Fill the register: the demo catalogue, the registers, then the mandates in chunks."""
    with app.app_context():
        seed(db.session())
        engine = db.engine
        dialect = POSTGRESQL if engine.dialect.name == "postgresql" else SQLITE
        with engine.connect() as connection:
            _prepare(connection, dialect)
            started = time.perf_counter()
            for what, sql in _registers_sql(dialect, world):
                _execute(connection, dialect, sql)
                print(f"  {what} in {time.perf_counter() - started:.0f} s", flush=True)
            indexes = _drop_indexes(connection, dialect)
            done = 0
            for kind, start, stop in _chunks(world):
                _execute(connection, dialect, _mandate_sql(dialect, world, kind, start, stop))
                done += stop - start
                seconds = time.perf_counter() - started
                print(f"  mandates: {done:,} of {world.mandates:,} ({kind}) after {seconds:.0f} s",
                      flush=True)
            for name, sql in indexes:
                connection.exec_driver_sql(sql)
                connection.commit()
                print(f"  index {name} after {time.perf_counter() - started:.0f} s", flush=True)
        _analyse(engine, dialect)
        print(f"  analysed after {time.perf_counter() - started:.0f} s", flush=True)


def _execute(connection: Any, dialect: Dialect, sql: str) -> None:
    """Run one statement without parameters and commit (psycopg reads % as a placeholder)."""
    connection.exec_driver_sql(sql.replace("%", "%%") if dialect is POSTGRESQL else sql)
    connection.commit()


def _prepare(connection: Any, dialect: Dialect) -> None:
    if dialect is SQLITE:
        raw = connection.connection.driver_connection
        raw.create_function("hashint8", 1, _hashint8, deterministic=True)
        raw.create_function("md5", 1, _md5, deterministic=True)
        connection.exec_driver_sql("PRAGMA cache_size=-262144")
    else:
        connection.exec_driver_sql("SET maintenance_work_mem = '1GB'")
        connection.exec_driver_sql("SET synchronous_commit = off")


def _drop_indexes(connection: Any, dialect: Dialect) -> list[tuple[str, str]]:
    """Drop the mandate table's secondary indexes; return their own definitions to recreate."""
    if dialect is SQLITE:
        rows = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'mandate' "
            "AND sql IS NOT NULL").all()
    else:
        rows = connection.exec_driver_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'mandate' "
            "AND indexname <> 'pk_mandate'").all()
    for name, _ in rows:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    connection.commit()
    return [(name, sql) for name, sql in rows]


def _analyse(engine: Any, dialect: Dialect) -> None:
    with engine.connect() as connection:
        if dialect is SQLITE:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
            return
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("mandate", "brp_person", "organisation"):
            connection.exec_driver_sql(f"VACUUM ANALYZE {table}")


def counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT kind, state, count(*) FROM mandate GROUP BY kind, state")).all()
        db.session.remove()
    return {f"{kind}/{state}": number for kind, state, number in rows}


# -- the people who log in ----------------------------------------------------------------------

def citizen(p: int, now: Any) -> Identity:
    return Identity(acting=Party(id=str(BSN_BASE + p), id_type="bsn"), loa="substantial",
                    connector="digid", authn_instant=now)


def employee(pseudonym: str, kvk: str, now: Any) -> Identity:
    """As the eHerkenning connector builds it after the upstream vouched for OMZET."""
    return Identity(acting=Party(id=pseudonym, id_type="pseudonym"),
                    organisation=Party(id=kvk, id_type="kvk"), loa="substantial",
                    connector="eherkenning", authn_instant=now, upstream_issuer="urn:bench:eh",
                    attributes={ETD_SERVICE_UUID: (OMZET,)})


def company_employee(q: int, now: Any) -> Identity:
    pseudonym = _md5(f"e{q}") + _md5(f"f{q}") + "@" + _md5(f"k{q // 3}")[:32]
    return employee(pseudonym, str(COMPANY_BASE + q // 3), now)


def office_employee(office: int, number: int, now: Any) -> Identity:
    pseudonym = (_md5(f"o{office}-{number}") + _md5(f"p{office}-{number}") + "@"
                 + _md5(f"x{office}")[:32])
    return employee(pseudonym, str(OFFICE_BASE + office), now)


Draw = Callable[[random.Random, Any], tuple[Identity, str]]


def classes(world: World) -> tuple[dict[str, tuple[float, Draw]], dict[str, Draw]]:
    """The login mix (class -> (share, draw)) and the heavy classes measured apart."""
    mix: dict[str, tuple[float, Draw]] = {
        "citizen (DigiD)": (0.60, lambda r, now: (citizen(r.randrange(world.citizens), now),
                                                  INKOMSTEN)),
        "citizen who represents nobody": (0.07, lambda r, now: (
            citizen(r.randrange(world.citizens, world.people), now), INKOMSTEN)),
        "employee (eHerkenning)": (0.28, lambda r, now: (
            company_employee(r.randrange(world.employees), now), OMZET)),
        "office employee, ~45 clients": (0.05, lambda r, now: (
            office_employee(r.randrange(world.offices), r.randrange(EMPLOYEES_PER_OFFICE), now),
            OMZET)),
    }
    heavy: dict[str, Draw] = {
        "professional representative, ~255": lambda r, now: (citizen(
            world.people + r.randrange(world.heavy_citizens), now), INKOMSTEN),
        "employee with ~35 authorisations": lambda r, now: (company_employee(
            world.employees + r.randrange(world.heavy_employees), now), OMZET),
        "big office employee, ~500 clients": lambda r, now: (office_employee(
            world.offices + r.randrange(world.big_offices), r.randrange(EMPLOYEES_PER_OFFICE),
            now), OMZET),
    }
    return mix, heavy


Lookup = tuple[str, Identity, Service]  #: (class, who logged in, for which service)


def sample(world: World, count: int, rng: random.Random, now: Any,
           catalogue: ServiceCatalogue) -> list[Lookup]:
    mix, _ = classes(world)
    names = list(mix)
    picked = rng.choices(names, weights=[mix[n][0] for n in names], k=count)
    return [lookup(name, mix[name][1], rng, now, catalogue) for name in picked]


def heavy_sample(world: World, count: int, rng: random.Random, now: Any,
                 catalogue: ServiceCatalogue) -> list[Lookup]:
    _, heavy = classes(world)
    return [lookup(name, draw, rng, now, catalogue) for name, draw in heavy.items()
            for _ in range(count)]


def lookup(name: str, draw: Draw, rng: random.Random, now: Any,
           catalogue: ServiceCatalogue) -> Lookup:
    identity, service = draw(rng, now)
    return name, identity, catalogue.get(service)


# -- measuring ----------------------------------------------------------------------------------

@dataclass
class Timing:
    name: str
    nanos: list[int]
    options: list[int]

    def line(self) -> str:
        ordered = sorted(self.nanos)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6

        found = sum(1 for n in self.options if n) / len(self.options)
        return (f"{self.name:36} n={len(ordered):6,}  p50 {pick(0.50):6.2f} ms  p99 "
                f"{pick(0.99):6.2f} ms  max {ordered[-1] / 1e6:7.2f} ms  options: mean "
                f"{sum(self.options) / len(self.options):5.1f}, some {found:4.0%}")


@dataclass(frozen=True)
class Chooser:
    """The plugins and the ``gather`` that a lookup runs: the work tree's, or a revision's."""

    label: str
    plugins: list[Any]
    gather: Callable[..., list[Any]]


def current(app: Flask) -> Chooser:
    return Chooser("work tree", list(app.extensions["broker"].plugins.values()), gather)


def run(app: Flask, lookups: list[Lookup], chooser: Chooser | None = None,
        timings: dict[str, Timing] | None = None, *, overall: bool = True) -> dict[str, Timing]:
    """Time ``gather`` for each (class, identity, service); per class and, with ``overall``,
    overall ("all"); added to ``timings`` when given."""
    runtime = app.extensions["broker"]
    chooser = chooser or current(app)
    timings = {} if timings is None else timings
    with app.app_context():
        for name, identity, service in lookups:
            # the request has its connection and transaction: it loaded its flow already
            db.session.execute(text("SELECT 1"))
            started = time.perf_counter_ns()
            options = chooser.gather(chooser.plugins, identity, service, runtime.context.clock())
            elapsed = time.perf_counter_ns() - started
            db.session.commit()  # as the chooser's request ends its look-up (Login._options)
            db.session.remove()
            for key in (name, "all") if overall else (name,):
                timing = timings.setdefault(key, Timing(key, [], []))
                timing.nanos.append(elapsed)
                timing.options.append(len(options))
    return timings


#: what a revision's chooser is made of: module name in its package -> path in the repository
REVISION_FILES = {
    "pipeline": "broker/pipeline.py", "service": "broker/register/service.py",
    "lookup": "broker/register/lookup.py", "citizen_register": "plugins/citizen_register.py",
    **{kind: f"plugins/{kind}/plugin.py" for kind in (
        "digid_machtigen", "legal_representation", "eherkenning", "chain_mandates")}}


#: imports an older revision's files make of names that have moved since
MOVED_SINCE = {"from broker.db import aware": "from broker.clock import aware",
               "from broker.db import utcnow": "from broker.clock import utcnow"}


def revision(app: Flask, rev: str, folder: Path) -> Chooser:
    """The chooser as at git revision ``rev``, beside the work tree's: its files written to
    ``folder`` as a package whose modules import each other, and the plugins built as the
    broker built the work tree's (same names, same context)."""
    root = Path(__file__).resolve().parents[1]
    package = folder / "chooser_at_revision"
    package.mkdir()
    (package / "__init__.py").write_text("")
    imports = {f"from {module} import": f"from chooser_at_revision.{name} import"
               for name, module in (("pipeline", "broker.pipeline"),
                                    ("service", "broker.register.service"),
                                    ("lookup", "broker.register.lookup"),
                                    ("citizen_register", "plugins.citizen_register"))}
    imports.update(MOVED_SINCE)
    for name, path in REVISION_FILES.items():
        shown = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root,
                               capture_output=True, text=True)
        if shown.returncode != 0 and name == "lookup":  # a revision before the read path moved
            continue
        shown.check_returncode()
        source = shown.stdout
        for old, new in imports.items():
            source = source.replace(old, new)
        (package / f"{name}.py").write_text(source)
    sys.path.insert(0, str(folder))
    runtime = app.extensions["broker"]
    classes = {point.name: point.value.split(":")[1]
               for point in entry_points(group="broker.plugins")}
    plugins = [getattr(importlib.import_module(f"chooser_at_revision.{PLUGINS[name]['type']}"),
                       classes[PLUGINS[name]["type"]])(name=name, context=runtime.context)
               for name in runtime.plugins]
    gather_at = importlib.import_module("chooser_at_revision.pipeline").gather
    return Chooser(rev, plugins, gather_at)


def same_options(app: Flask, choosers: list[Chooser], lookups: list[Lookup]) -> bool:
    """Whether every chooser gives the same options, in the same order, for every lookup."""
    now = app.extensions["broker"].context.clock()
    answers = []
    with app.app_context():
        for chooser in choosers:
            answer = []
            for _, identity, service in lookups:
                options = chooser.gather(chooser.plugins, identity, service, now)
                answer.append([option.to_dict() for option in options])
                db.session.remove()
            answers.append(answer)
    return all(answer == answers[0] for answer in answers)


def compare(app: Flask, choosers: list[Chooser], mix: list[Lookup], heavy: list[Lookup],
            rounds: int) -> dict[str, dict[str, Timing]]:
    """Per chooser, its timings over ``rounds`` rounds of ``mix`` and ``heavy``, the choosers
    taking turns (in the opposite order every other round) after a warm-up round each."""
    for chooser in choosers:
        run(app, mix + heavy, chooser)
    timings: dict[str, dict[str, Timing]] = {chooser.label: {} for chooser in choosers}
    for number in range(rounds):
        for chooser in choosers if number % 2 == 0 else choosers[::-1]:
            run(app, mix, chooser, timings[chooser.label])
            run(app, heavy, chooser, timings[chooser.label], overall=False)
        print(f"  round {number + 1} of {rounds}; load average %.2f" % os.getloadavg()[0],
              flush=True)
    return timings


def statement_counts(app: Flask, chooser: Chooser, lookups: list[Lookup]) -> dict[str, int]:
    """Statements of the first lookup of each class (the request's own ``SELECT 1`` left out)."""
    counts: dict[str, int] = {}
    for lookup in lookups:
        if lookup[0] not in counts:
            with statements(app) as seen:
                run(app, [lookup], chooser)
            counts[lookup[0]] = sum(1 for statement, _ in seen if statement != "SELECT 1")
    return counts


def profile(app: Flask, lookups: list[Lookup], lines: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run(app, lookups)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(lines)
    return out.getvalue()


@contextmanager
def statements(app: Flask) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements run inside the block, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def explain(app: Flask, lookup: Lookup) -> str:
    """The statements of one lookup, each distinct one with its plan."""
    with statements(app) as recorded:
        run(app, [lookup])
    seen = [(statement, parameters) for statement, parameters in recorded
            if statement != "SELECT 1"]  # run's own, before the lookup
    out = [f"{lookup[0]}: {len(seen)} statements"]
    with app.app_context():
        connection = db.session.connection()
        postgres = connection.dialect.name == "postgresql"
        done: set[str] = set()
        for statement, parameters in seen:
            if statement in done:
                continue
            if "FROM mandate" not in statement:
                done.add(statement)  # each mandate query is shown: its plan depends on the party
            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
            plan = connection.exec_driver_sql(prefix + statement, parameters).all()
            out.append("  " + " ".join(statement.split())[:300])
            out.extend("    " + " | ".join(str(v) for v in row) for row in plan)
        db.session.remove()
    return "\n".join(out)


def broker_app(url: str, folder: Path) -> Flask:
    """The broker itself (``create_app``) on ``url``, configured as the demo is (its connectors,
    frontends and four mandate plugins) without the demo's own pages."""
    config = demo_config("http://localhost")
    config["broker"].update(database_url=url.replace("postgresql+psycopg://", "postgresql://"),
                            demo=False)
    assert config["plugins"] == PLUGINS
    return create_app(load_settings(config, instance_path=folder, environ={}))


def against(broker: Flask, world: World, options: argparse.Namespace, rng: random.Random,
            now: Any, catalogue: ServiceCatalogue, folder: Path) -> None:
    """--against: check, count statements, then time both choosers in alternating rounds."""
    choosers = [revision(broker, options.against, folder), current(broker)]
    check = (sample(world, options.warmup, rng, now, catalogue)
             + heavy_sample(world, 10, rng, now, catalogue))
    same = same_options(broker, choosers, check)
    print(f"the same options for all {len(check):,} lookups: {same}")
    if not same:
        raise SystemExit("the choosers differ: nothing timed")
    for chooser in choosers:
        print(f"statements per lookup, {chooser.label}: "
              f"{statement_counts(broker, chooser, check)}")
    mix = sample(world, options.lookups // options.rounds, rng, now, catalogue)
    heavy = heavy_sample(world, max(options.heavy // options.rounds, 1), rng, now, catalogue)
    print("load average before the lookups: %.2f %.2f %.2f" % os.getloadavg())
    timings = compare(broker, choosers, mix, heavy, options.rounds)
    print("load average after the lookups: %.2f %.2f %.2f" % os.getloadavg())
    for name in ["all", *classes(world)[0], *classes(world)[1]]:
        for chooser in choosers:
            if name in timings[chooser.label]:
                print(f"  {chooser.label[:10]:10} " + timings[chooser.label][name].line())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="postgresql://USER@HOST/NEWDB (created and "
                        "dropped); default: SQLite in a temporary folder")
    parser.add_argument("--mandates", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--heavy", type=int, default=200, help="lookups per heavy class")
    parser.add_argument("--profile", type=int, default=2_000, help="lookups under cProfile "
                        "(0: none)")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--reuse", action="store_true", help="use a database kept before "
                        "as it is, and keep it (PostgreSQL)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--against", metavar="REV", help="also measure the chooser as at git "
                        "revision REV, in alternating rounds with the work tree's")
    parser.add_argument("--rounds", type=int, default=6, help="rounds with --against; each "
                        "runs --lookups/rounds of the mix and --heavy/rounds of each heavy class")
    options = parser.parse_args()
    world = World(options.mandates)
    with fresh_database(options.database_url, keep=options.keep, reuse=options.reuse) as url, \
            tempfile.TemporaryDirectory(prefix="chooser-bench-") as tmp:
        print(versions(url))
        app = migrated_app(url)
        if not (options.reuse and counts(app)):
            print(f"generating {world.mandates:,} mandates", flush=True)
            generate(app, world)
        found = counts(app)
        print(f"mandates: {sum(found.values()):,}; " + ", ".join(
            f"{key} {value:,}" for key, value in sorted(found.items())))
        with app.app_context():
            db.engine.dispose()
        broker = broker_app(url, Path(tmp))
        rng = random.Random(options.seed)
        with broker.app_context():
            context = broker.extensions["broker"].context
            now, catalogue = context.clock(), context.catalogue()
        if options.against:
            against(broker, world, options, rng, now, catalogue, Path(tmp))
            with broker.app_context():
                db.session.remove()
                db.engine.dispose()
            return 0
        print("load average before the lookups: %.2f %.2f %.2f" % os.getloadavg())
        run(broker, sample(world, options.warmup, rng, now, catalogue))
        timings = run(broker, sample(world, options.lookups, rng, now, catalogue))
        heavy = run(broker, heavy_sample(world, options.heavy, rng, now, catalogue))
        print(f"{options.lookups:,} lookups of the login mix (after {options.warmup:,} warm-up):")
        for name in ["all", *classes(world)[0]]:
            if name in timings:
                print("  " + timings[name].line())
        print("heavy classes, measured apart:")
        for name in classes(world)[1]:
            print("  " + heavy[name].line())
        print("load average after the lookups: %.2f %.2f %.2f" % os.getloadavg())
        if options.explain:
            mix, heavies = classes(world)
            draws = [(name, draw) for name, (_, draw) in mix.items()] + list(heavies.items())
            for name, draw in draws:
                print(explain(broker, lookup(name, draw, rng, now, catalogue)))
        if options.profile:
            print(f"cProfile over {options.profile:,} lookups of the mix:")
            print(profile(broker, sample(world, options.profile, rng, now, catalogue), 25))
        with broker.app_context():
            db.session.remove()
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
