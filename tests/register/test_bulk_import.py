"""Bulk import of mandates: every refusal by line number, both formats, dry run, idempotency,
whole batches only, history events."""

import json
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.clock import aware
from broker.context import service_from_record
from broker.db import ServiceRecord
from broker.demo.seed import seed
from broker.errors import InputError
from broker.register import bulk_import
from broker.register.bulk_import import import_file
from broker.register.models import ACTIVE
from broker.register.models import Mandate
from broker.register.models import MandateEvent
from broker.services import ServiceCatalogue
from tests.register import NOW

OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"
TOESLAGEN = "1373be8a-5091-5838-ac0d-b3234dc1fa5f"
JAN, FATIMA = "999993653", "999990676"
BAKERY_RSIN = "999990172"
HEADER = ("kind,represented_type,represented,representative_type,representative,services,loa,"
          "branch,valid_from,valid_until")
GOOD = {
    "company": f"company,kvk,10000001,pseudonym,emp1@bench,{OMZET},substantial,000012345678,"
               "2025-01-01,2027-01-01",
    "company_rsin": f"company,rsin,{BAKERY_RSIN},pseudonym,emp2@bench,{OMZET},,,2025-01-01,",
    "chain": f"chain,kvk,30000003,kvk,20000002,{OMZET},,,2025-01-01,",  # a new client
    "voluntary": f"voluntary,bsn,{JAN},bsn,{FATIMA},{INKOMSTEN} {TOESLAGEN},,,2025-01-01,"
                 "2027-01-01",
}
BAD = {
    "bsn fails the 11-test": f"voluntary,bsn,123456789,bsn,{FATIMA},{INKOMSTEN},,,2025-01-01,",
    "bsn in non-ASCII digits": f"voluntary,bsn,{JAN},bsn,９９９９９０６７６,{INKOMSTEN},,,"
                               "2025-01-01,",
    "rsin fails the 11-test": f"company,rsin,999900007,pseudonym,e1,{OMZET},,,2025-01-01,",
    "kvk of 7 digits": f"company,kvk,1000000,pseudonym,e1,{OMZET},,,2025-01-01,",
    "kvk with a letter": f"chain,kvk,1000000a,kvk,20000002,{OMZET},,,2025-01-01,",
    "branch of 11 digits": f"company,kvk,10000001,pseudonym,e1,{OMZET},,00001234567,2025-01-01,",
    "branch on a voluntary mandate": f"voluntary,bsn,{JAN},bsn,{FATIMA},{INKOMSTEN},,"
                                     "000012345678,2025-01-01,",
    "unknown service": f"company,kvk,10000001,pseudonym,e1,{'0' * 8}-0000-0000-0000-{'0' * 12},,,"
                       "2025-01-01,",
    "service refuses the kind": f"voluntary,bsn,{JAN},bsn,{FATIMA},{OMZET},,,2025-01-01,",
    "no service": "company,kvk,10000001,pseudonym,e1,,,,2025-01-01,",
    "date not YYYY-MM-DD": f"company,kvk,10000001,pseudonym,e1,{OMZET},,,01-01-2025,",
    "impossible date": f"company,kvk,10000001,pseudonym,e1,{OMZET},,,2025-02-30,",
    "no valid_from": f"company,kvk,10000001,pseudonym,e1,{OMZET},,,,",
    "dates out of order": f"company,kvk,10000001,pseudonym,e1,{OMZET},,,2026-06-01,2026-05-01",
    "valid_until in the past": f"company,kvk,10000001,pseudonym,e1,{OMZET},,,2024-01-01,"
                               "2025-01-01",
    "company from a bsn": f"company,bsn,{JAN},pseudonym,e1,{OMZET},,,2025-01-01,",
    "company to a kvk": f"company,kvk,10000001,kvk,20000002,{OMZET},,,2025-01-01,",
    "chain from an rsin": f"chain,rsin,{BAKERY_RSIN},kvk,20000002,{OMZET},,,2025-01-01,",
    "chain to itself": f"chain,kvk,10000001,kvk,10000001,{OMZET},,,2025-01-01,",
    "voluntary to oneself": f"voluntary,bsn,{JAN},bsn,{JAN},{INKOMSTEN},,,2025-01-01,",
    "voluntary to a pseudonym": f"voluntary,bsn,{JAN},pseudonym,e1,{INKOMSTEN},,,2025-01-01,",
    "unknown kind": f"legal,bsn,{JAN},bsn,{FATIMA},{INKOMSTEN},,,2025-01-01,",
    "unknown level": f"company,kvk,10000001,pseudonym,e1,{OMZET},EH9,,2025-01-01,",
    "pseudonym with a space": f"company,kvk,10000001,pseudonym,e 1,{OMZET},,,2025-01-01,",
    "too few fields": f"company,kvk,10000001,pseudonym,e1,{OMZET},,,2025-01-01",
}
REASONS = {
    "bsn fails the 11-test": "invalid BSN", "bsn in non-ASCII digits": "invalid BSN",
    "rsin fails the 11-test": "invalid RSIN", "kvk of 7 digits": "invalid KvK number",
    "kvk with a letter": "invalid KvK number", "branch of 11 digits": "invalid branch number",
    "branch on a voluntary mandate": "branch number does not belong",
    "unknown service": "unknown service", "service refuses the kind": "does not accept",
    "no service": "no service given", "date not YYYY-MM-DD": "not a date",
    "impossible date": "not a date", "no valid_from": "not a date",
    "dates out of order": "not after valid_from", "valid_until in the past": "in the past",
    "company from a bsn": "does not fit company", "company to a kvk": "does not fit company",
    "chain from an rsin": "does not fit chain", "chain to itself": "are the same",
    "voluntary to oneself": "are the same",
    "voluntary to a pseudonym": "does not fit voluntary", "unknown kind": "unknown mandate kind",
    "unknown level": "unknown level of assurance", "pseudonym with a space": "invalid pseudonym",
    "too few fields": "9 fields instead of 10",
}


def _csv(tmp_path: Path, *rows: str, name: str = "mandates.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join((HEADER, *rows)) + "\n", encoding="utf-8")
    return path


def _jsonl(tmp_path: Path, *rows: str) -> Path:
    """The same rows as JSON Lines (services as a list; empty fields left out)."""
    names = HEADER.split(",")
    lines = []
    for row in rows:
        values = dict(zip(names, row.split(","), strict=True))
        record: dict[str, Any] = {k: v for k, v in values.items() if v}
        if "services" in record:
            record["services"] = record["services"].split()
        lines.append(json.dumps(record))
    path = tmp_path / "mandates.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(session: Any, catalogue: ServiceCatalogue, path: Path, **options: Any) -> Any:
    return import_file(session, catalogue, path, actor="admin:test", now=NOW, **options)


def _imported(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Mandate).where(
        Mandate.import_key.is_not(None))).scalar_one()


def test_import_csv_good_rows_creates_active_mandates_with_history(session, catalogue,
                                                                    tmp_path) -> None:
    report = _run(session, catalogue, _csv(tmp_path, *GOOD.values()))
    assert (report.accepted, report.skipped, report.rejected) == (4, 0, [])
    company = session.execute(select(Mandate).where(
        Mandate.representative_id == "emp1@bench")).scalar_one()
    assert (company.kind, company.state, company.loa, company.extra) == (
        "company", ACTIVE, "substantial", {"branch": "000012345678"})
    assert company.services == [OMZET] and company.valid_until.year == 2027
    voluntary = session.execute(select(Mandate).where(Mandate.kind == "voluntary",
                                                      Mandate.import_key.is_not(None))).scalar_one()
    assert voluntary.services == [INKOMSTEN, TOESLAGEN]
    events = session.execute(select(MandateEvent).where(MandateEvent.action == "imported")).scalars()
    assert sorted((e.actor, e.to_state) for e in events) == [("admin:test", ACTIVE)] * 4
    assert [e.action for e in company.events] == ["imported"]


@pytest.mark.parametrize("case", sorted(BAD))
def test_import_csv_bad_row_is_rejected_with_its_line_and_reason(session, catalogue, tmp_path,
                                                                  case: str) -> None:
    path = _csv(tmp_path, GOOD["company"], BAD[case], GOOD["chain"])
    report = _run(session, catalogue, path)
    assert report.accepted == 2
    assert [r.line for r in report.rejected] == [3]
    assert REASONS[case] in report.rejected[0].reason
    assert report.rejected[0].reason_nl and report.rejected[0].reason_nl != report.rejected[0].reason


@pytest.mark.parametrize("case", sorted(set(BAD) - {"too few fields"}))
def test_import_jsonl_bad_row_is_rejected_with_its_line_and_reason(session, catalogue, tmp_path,
                                                                    case: str) -> None:
    path = _jsonl(tmp_path, GOOD["voluntary"], GOOD["chain"], BAD[case])
    report = _run(session, catalogue, path)
    assert report.accepted == 2 and [r.line for r in report.rejected] == [3]
    assert REASONS[case] in report.rejected[0].reason


def test_import_jsonl_good_rows_match_csv_rows(session, catalogue, tmp_path) -> None:
    report = _run(session, catalogue, _jsonl(tmp_path, *GOOD.values()))
    assert (report.accepted, report.rejected) == (4, [])
    again = _run(session, catalogue, _csv(tmp_path, *GOOD.values()))
    assert (again.accepted, again.skipped) == (0, 4)  # same normalised rows, same import keys


@pytest.mark.parametrize(("line", "reason"), [
    ("{not json", "not valid JSON"),
    ('["a list"]', "not a JSON object"),
    ('{"kind": "company", "colour": "blue"}', "unknown field colour"),
    (json.dumps({"kind": "company", "represented_type": "kvk", "represented": 10000001,
                 "representative_type": "pseudonym", "representative": "e1",
                 "services": [OMZET], "valid_from": "2025-01-01"}), "represented must be text"),
    (json.dumps({"kind": "company", "represented_type": "kvk", "represented": "10000001",
                 "representative_type": "pseudonym", "representative": "e1",
                 "services": OMZET + " x", "valid_from": "2025-01-01"}), "unknown service x"),
])
def test_import_jsonl_malformed_line_is_rejected(session, catalogue, tmp_path, line: str,
                                                 reason: str) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text("\n" + line + "\n", encoding="utf-8")
    report = _run(session, catalogue, path)
    assert [(r.line, reason in r.reason) for r in report.rejected] == [(2, True)]


def test_import_csv_bad_header_is_refused_before_any_row(session, catalogue, tmp_path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("kind,represented,colour\ncompany,10000001,blue\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing represented_type.*unknown colour"):
        _run(session, catalogue, path)
    assert _imported(session) == 0


def test_import_unknown_extension_needs_a_format(session, catalogue, tmp_path) -> None:
    path = tmp_path / "m.txt"
    path.write_text(HEADER + "\n" + GOOD["chain"] + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="--format"):
        _run(session, catalogue, path)
    assert _run(session, catalogue, path, fmt="csv").accepted == 1


def test_import_dry_run_reports_but_writes_nothing(session, catalogue, tmp_path) -> None:
    events_before = session.execute(select(func.count()).select_from(MandateEvent)).scalar_one()
    report = _run(session, catalogue, _csv(tmp_path, *GOOD.values(), BAD["chain to itself"]),
                  dry_run=True)
    assert (report.accepted, len(report.rejected), report.dry_run) == (4, 1, True)
    assert _imported(session) == 0
    assert session.execute(select(func.count()).select_from(MandateEvent)).scalar_one() \
        == events_before


def test_import_twice_adds_nothing_the_second_time(session, catalogue, tmp_path) -> None:
    path = _csv(tmp_path, *GOOD.values(), BAD["kvk of 7 digits"])
    first = _run(session, catalogue, path, batch_size=2)
    second = _run(session, catalogue, path, batch_size=2)
    assert (first.accepted, first.skipped) == (4, 0)
    assert (second.accepted, second.skipped, len(second.rejected)) == (0, 4, 1)
    assert _imported(session) == 4


def test_import_repeated_row_in_one_file_is_skipped(session, catalogue, tmp_path) -> None:
    path = _csv(tmp_path, GOOD["chain"], GOOD["company"], GOOD["chain"], GOOD["chain"])
    report = _run(session, catalogue, path, batch_size=2)  # repeats within and across batches
    assert (report.accepted, report.skipped) == (2, 2) and _imported(session) == 2


def test_import_dry_run_after_import_counts_rows_as_present(session, catalogue,
                                                           tmp_path) -> None:
    path = _csv(tmp_path, *GOOD.values())
    _run(session, catalogue, path)
    report = _run(session, catalogue, path, dry_run=True)
    assert (report.accepted, report.skipped) == (0, 4)


def test_import_interrupted_keeps_whole_batches_only(session, catalogue, tmp_path,
                                                     monkeypatch) -> None:
    rows = [f"chain,kvk,{10000010 + i},kvk,20000002,{OMZET},,,2025-01-01," for i in range(7)]
    calls = []
    real = bulk_import.writer._insert_events

    def failing(session_: Any, statement: Any, events: Any) -> None:
        calls.append(len(events))
        if len(calls) == 2:  # the second batch's mandates are written, its events fail
            raise RuntimeError("disk full")
        real(session_, statement, events)

    monkeypatch.setattr(bulk_import.writer, "_insert_events", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        _run(session, catalogue, _csv(tmp_path, *rows), batch_size=3)
    kept = session.execute(select(Mandate.represented_id).where(
        Mandate.import_key.is_not(None)).order_by(Mandate.represented_id)).scalars().all()
    assert kept == ["10000010", "10000011", "10000012"]
    assert session.execute(select(func.count()).select_from(MandateEvent).where(
        MandateEvent.action == "imported")).scalar_one() == 3
    monkeypatch.setattr(bulk_import.writer, "_insert_events", real)
    report = _run(session, catalogue, _csv(tmp_path, *rows), batch_size=3)
    assert (report.accepted, report.skipped) == (4, 3) and _imported(session) == 7


def test_import_reports_progress_per_batch(session, catalogue, tmp_path) -> None:
    seen: list[int] = []
    rows = [f"chain,kvk,{10000010 + i},kvk,20000002,{OMZET},,,2025-01-01," for i in range(5)]
    _run(session, catalogue, _csv(tmp_path, *rows, BAD["unknown kind"]), batch_size=2,
         progress=seen.append)
    assert sum(seen) == 6 and len(seen) == 3


def test_import_leaves_demo_mandates_without_key(session, catalogue, tmp_path) -> None:
    _run(session, catalogue, _csv(tmp_path, *GOOD.values()))
    demo = session.execute(select(func.count()).select_from(Mandate).where(
        Mandate.import_key.is_(None))).scalar_one()
    assert demo > 0


def test_chain_rows_that_loop_or_run_too_deep_are_rejected_like_in_the_portal(
        database: Any) -> None:
    """Bakery → office exists in the seed; office → bakery would loop; office → a third
    organisation would put two intermediaries between bakery and that one's employees."""
    from broker.register.bulk_import import import_rows

    omzet = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
    session = database
    seed(session)
    catalogue = ServiceCatalogue([service_from_record(r) for r in session.query(ServiceRecord)])
    rows = [
        (2, {"kind": "chain", "represented_type": "kvk", "represented": "20000002",
             "representative_type": "kvk", "representative": "10000001", "services": omzet,
             "valid_from": "2026-01-01"}),
        (3, {"kind": "chain", "represented_type": "kvk", "represented": "30000003",
             "representative_type": "kvk", "representative": "10000001", "services": omzet,
             "valid_from": "2026-01-01"}),
    ]
    report = import_rows(session, catalogue, rows, actor="admin:test", chain_depth=1)
    assert [(r.line, r.reason) for r in report.rejected] == [
        (2, "this chain mandate would make a loop"),
        (3, "chain too long (2 intermediaries, at most 1)")]
    assert report.accepted == 0
    again = import_rows(session, catalogue, rows[1:], actor="admin:test", chain_depth=2)
    assert again.accepted == 1 and not again.rejected


def test_import_stores_every_column_as_given_even_an_odd_actor(session, catalogue,
                                                               tmp_path) -> None:
    """Tabs, newlines and backslashes in the actor survive the write (COPY's text format on
    PostgreSQL escapes them); times, dates, services and branch read back as written."""
    actor = "admin:tab\there\\back\nslash"
    import_file(session, catalogue, _csv(tmp_path, *GOOD.values()), actor=actor, now=NOW)
    company = session.execute(select(Mandate).where(
        Mandate.representative_id == "emp1@bench")).scalar_one()
    assert (company.represented_type, company.represented_id, company.representative_type) == (
        "kvk", "10000001", "pseudonym")
    assert aware(company.created_at) == NOW
    assert aware(company.valid_from) == datetime(2025, 1, 1, tzinfo=UTC)
    assert aware(company.valid_until) == datetime(2027, 1, 1, tzinfo=UTC)
    assert (company.loa, company.extra, company.services) == (
        "substantial", {"branch": "000012345678"}, [OMZET])
    chain = session.execute(select(Mandate).where(Mandate.kind == "chain",
                                                  Mandate.import_key.is_not(None))).scalar_one()
    assert (chain.valid_until, chain.loa, chain.extra) == (None, None, {})
    [event] = company.events
    assert (event.actor, aware(event.at), event.reason) == (actor, NOW, "bulk import")
