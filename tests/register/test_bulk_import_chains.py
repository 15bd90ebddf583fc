"""Bulk import of chain mandates: the chain rules (no loop, at most ``chain_depth``
intermediaries) hold across batches, against the mandates in the register before the import,
in a dry run, and exactly as one graph over the whole file would decide them.

The seed holds one chain mandate, bakery (10000001) → office (20000002), for OMZET."""

import random
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from broker.register import bulk_import
from broker.register.bulk_import import import_rows
from broker.register.models import REVOKED
from broker.register.models import Mandate
from broker.register.organisations import AlreadyRepresented
from broker.register.organisations import Loop
from broker.register.organisations import TooLong
from broker.register.organisations import chain_edges
from broker.register.organisations import chain_violation
from broker.register.organisations import reversed_edges
from broker.services import ServiceCatalogue
from tests.register import NOW
from tests.services import statements

OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
BAKERY, OFFICE = "10000001", "20000002"
A, B, C, D = "40000004", "50000005", "60000006", "70000007"
LOOP = "this chain mandate would make a loop"
ALREADY = "the intermediary already represents this client"


def too_long(length: int, depth: int) -> str:
    return f"chain too long ({length} intermediaries, at most {depth})"


def chain(client: str, intermediary: str, valid_from: str = "2025-01-01") -> dict[str, Any]:
    return {"kind": "chain", "represented_type": "kvk", "represented": client,
            "representative_type": "kvk", "representative": intermediary, "services": OMZET,
            "valid_from": valid_from}


def company(n: int) -> dict[str, Any]:
    """A row that passes and has nothing to do with the chains: fills a batch."""
    return {"kind": "company", "represented_type": "kvk", "represented": BAKERY,
            "representative_type": "pseudonym", "representative": f"filler{n}",
            "services": OMZET, "valid_from": "2025-01-01"}


def numbered(*rows: dict[str, Any]) -> list[tuple[int, Any]]:
    return list(enumerate(rows, start=2))


def run(session: Any, catalogue: ServiceCatalogue, rows: list[tuple[int, Any]],
        **options: Any) -> Any:
    options.setdefault("batch_size", 2)
    return import_rows(session, catalogue, rows, actor="admin:test", now=NOW, **options)


def rejected(report: Any) -> list[tuple[int, str]]:
    return [(r.line, r.reason) for r in report.rejected]


@pytest.mark.parametrize("dry_run", [False, True])
def test_loop_closed_in_a_later_batch_is_rejected(session, catalogue, dry_run: bool) -> None:
    rows = numbered(chain(A, B), company(1), company(2), chain(B, A))
    report = run(session, catalogue, rows, dry_run=dry_run)
    assert rejected(report) == [(5, LOOP)]
    assert report.accepted == 3


@pytest.mark.parametrize("dry_run", [False, True])
def test_long_loop_over_three_batches_is_rejected(session, catalogue, dry_run: bool) -> None:
    rows = numbered(chain(A, B), company(1), chain(B, C), company(2), chain(C, A))
    report = run(session, catalogue, rows, dry_run=dry_run, chain_depth=2)
    assert rejected(report) == [(6, LOOP)]


@pytest.mark.parametrize("dry_run", [False, True])
def test_depth_exceeded_across_batches_is_rejected_both_ways(session, catalogue,
                                                             dry_run: bool) -> None:
    """A → B first; then B → C (after it) and D → A (before it) make chains of two."""
    rows = numbered(chain(A, B), company(1), company(2), chain(B, C), company(3), chain(D, A))
    report = run(session, catalogue, rows, dry_run=dry_run)
    assert rejected(report) == [(5, too_long(2, 1)), (7, too_long(2, 1))]
    again = run(session, catalogue, rows, dry_run=dry_run, chain_depth=2)
    assert rejected(again) == [(7, too_long(3, 2))]  # D → A → B → C


def test_loop_through_mandates_in_the_register_before_the_import(session, catalogue) -> None:
    """The seed's bakery → office and an earlier import's office → A close a loop with
    A → bakery; the seed's edge alone makes office → bakery a loop."""
    first = run(session, catalogue, numbered(chain(OFFICE, A)), chain_depth=3)
    assert (first.accepted, first.rejected) == (1, [])
    report = run(session, catalogue, numbered(company(1), company(2), chain(A, BAKERY),
                                              chain(OFFICE, BAKERY)), chain_depth=3)
    assert rejected(report) == [(4, LOOP), (5, LOOP)]


def test_register_mandate_out_of_force_does_not_count(session, catalogue) -> None:
    """An edge revoked in the register before the import is no edge for its rows."""
    seeded = session.execute(select(Mandate).where(Mandate.kind == "chain")).scalar_one()
    seeded.state = REVOKED
    session.commit()
    report = run(session, catalogue, numbered(chain(OFFICE, BAKERY)))
    assert (report.accepted, report.rejected) == (1, [])


def test_rejected_chain_row_is_no_edge_for_later_rows(session, catalogue) -> None:
    """B → A loops and is refused; so C → B (a batch later) has no chain behind B, and
    B → D (refused by validation) does not make D → B's chain long."""
    rows = numbered(chain(A, B), chain(B, A), company(1), chain(C, B),
                    {**chain(B, D), "valid_from": "2025-13-01"}, chain(D, B))
    report = run(session, catalogue, rows)
    assert [line for line, _ in rejected(report)] == [3, 6]
    assert rejected(report)[0] == (3, LOOP) and "not a date" in rejected(report)[1][1]
    assert report.accepted == 4


def test_second_edge_between_the_same_parties_is_rejected_across_batches(session,
                                                                        catalogue) -> None:
    """Another period for A → B is refused in a later batch; the same row again is not (it is
    skipped), in the same import and in the next."""
    rows = numbered(chain(A, B), company(1), chain(A, B, "2025-06-01"), chain(A, B))
    report = run(session, catalogue, rows)
    assert rejected(report) == [(4, ALREADY)]
    assert (report.accepted, report.skipped) == (2, 1)
    again = run(session, catalogue, rows)
    assert rejected(again) == [(4, ALREADY)] and (again.accepted, again.skipped) == (0, 3)


def test_future_chain_row_counts_for_later_batches(session, catalogue) -> None:
    """A row valid from next year is written but not yet in force: it still counts for the
    rest of its file (as a mandate in force would), not for a later import."""
    rows = numbered(chain(A, B, "2027-01-01"), company(1), company(2), chain(B, A))
    report = run(session, catalogue, rows)
    assert rejected(report) == [(5, LOOP)]
    later = run(session, catalogue, numbered(chain(B, A)))
    assert (later.accepted, later.rejected) == (1, [])


def test_reimport_of_chains_in_force_skips_them_without_walking_the_chains(session,
                                                                         catalogue) -> None:
    """Chain rows whose mandates are in force already are skipped on a second import after
    one look-up of their keys per batch: the chains around them are not read again."""
    rows = numbered(chain(A, B), chain(B, C), chain(C, D), chain(D, BAKERY))
    first = run(session, catalogue, rows, chain_depth=5)
    assert (first.accepted, first.rejected) == (4, [])
    with statements(session.get_bind()) as seen:
        again = run(session, catalogue, rows, chain_depth=5)
    assert (again.accepted, again.skipped, again.rejected) == (0, 4, [])
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2 * 2  # per batch of 2: the keys in force, the keys present


def test_reimport_checks_a_chain_row_whose_mandate_is_out_of_force(session, catalogue) -> None:
    """A row imported before whose mandate was revoked since is checked as a new edge: after
    B → A was imported in its place, A → B again is a loop."""
    assert run(session, catalogue, numbered(chain(A, B))).accepted == 1
    session.execute(select(Mandate).where(Mandate.represented_id == A)).scalar_one().state = REVOKED
    session.commit()
    assert run(session, catalogue, numbered(chain(B, A))).accepted == 1
    report = run(session, catalogue, numbered(chain(A, B)))
    assert rejected(report) == [(2, LOOP)]


def reference(session: Any, catalogue: ServiceCatalogue, rows: list[tuple[int, Any]],
              depth: int) -> list[tuple[int, str]]:
    """The refusals as one in-memory graph over the whole file decides them (the import's
    way before it checked a batch at a time), for valid chain rows of OMZET."""
    validator = bulk_import.rows.Validator(catalogue, today=NOW.date())
    edges = chain_edges(session, OMZET, NOW)
    imported = set(session.scalars(select(Mandate.import_key).where(
        Mandate.kind == "chain", Mandate.import_key.is_not(None))))
    seen: set[str] = set()
    refused = []
    for line, fields in rows:
        row = validator.check(fields)
        key = row.key()
        if key in seen:
            continue
        client, intermediary = row.represented[1], row.representative[1]
        match chain_violation(edges, client, intermediary, depth, reversed_edges(edges)):
            case AlreadyRepresented() if key in imported:
                continue
            case AlreadyRepresented():
                refused.append((line, ALREADY))
                continue
            case Loop():
                refused.append((line, LOOP))
                continue
            case TooLong(length):
                refused.append((line, too_long(length, depth)))
                continue
        edges.setdefault(client, set()).add(intermediary)
        seen.add(key)
    return refused


def random_file(generator: random.Random, count: int) -> list[tuple[int, Any]]:
    parties = [BAKERY, OFFICE, A, B, C, D]
    starts = ["2025-01-01", "2025-06-01", "2026-06-01", date(2027, 3, 1).isoformat()]
    rows: list[dict[str, Any]] = []
    for _ in range(count):
        if rows and generator.random() < 0.15:
            rows.append(generator.choice(rows))  # the same row again
            continue
        client, intermediary = generator.sample(parties, 2)
        rows.append(chain(client, intermediary, generator.choice(starts)))
    return numbered(*rows)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_refusals_do_not_depend_on_the_batch_size(session, catalogue, depth: int) -> None:
    """Random files of chain rows among six parties: batches of 1, 2, 3 and 7 rows and a dry
    run refuse exactly the rows (and for the reasons) one graph over the file would, on an
    empty import history and after an earlier import."""
    generator = random.Random(depth)
    for _ in range(2):
        rows = random_file(generator, 40)
        expected = reference(session, catalogue, rows, depth)
        for size in (7, 3, 2):
            report = run(session, catalogue, rows, dry_run=True, batch_size=size,
                         chain_depth=depth)
            assert rejected(report) == expected, size
        report = run(session, catalogue, rows, batch_size=1, chain_depth=depth)
        assert rejected(report) == expected
        assert report.accepted + report.skipped == len(rows) - len(expected)
