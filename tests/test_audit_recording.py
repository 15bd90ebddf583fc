"""What reaches the audit trail: mandate changes with the change itself, one entry per import
batch, every login with who acted for whom, and administrators' commands; and the `broker audit
verify` command that checks it all."""

from __future__ import annotations

import getpass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from broker import audit
from broker.audit import AuditEntry
from broker.cli import main
from broker.context import service_from_record
from broker.db import ServiceRecord
from broker.demo.seed import seed
from broker.register import bulk_import
from broker.register.models import Mandate
from broker.register.models import MandateEvent
from broker.register.organisations import Organisations
from broker.register.service import Register
from broker.services import ServiceCatalogue
from tests.fakes import Clock
from tests.flows import conftest as flows
from tests.flows.browser import Arrival
from tests.flows.browser import Browser
from tests.flows.rp import INKOMSTEN
from tests.flows.rp import OIDC_REDIRECT
from tests.flows.rp import OidcRelyingParty
from tests.flows.rp import oidc_login
from tests.services import execute_sql

JAN, FATIMA = "999993653", "999990676"
OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
HEADER = ("kind,represented_type,represented,representative_type,representative,services,loa,"
          "branch,valid_from,valid_until")


def _entries(session: Any, action: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.seq)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.execute(query).scalars())


def _catalogue(session: Any) -> ServiceCatalogue:
    return ServiceCatalogue([service_from_record(r) for r in session.query(ServiceRecord)])


@pytest.fixture
def seeded(database: Any) -> Any:
    seed(database)
    database.commit()
    return database


# -- mandate changes -----------------------------------------------------------------------


def test_a_revoke_writes_one_audit_entry_with_the_mandate_change(seeded: Any) -> None:
    mandate = seeded.query(Mandate).filter_by(represented_id=JAN, kind="voluntary").one()
    before = len(_entries(seeded))
    Register(seeded, _catalogue(seeded)).revoke(actor=JAN, mandate_id=mandate.id,
                                                reason="no longer needed")
    entries = _entries(seeded)
    assert len(entries) == before + 1
    entry = entries[-1]
    assert (entry.actor, entry.action, entry.subject) == (f"bsn:{JAN}", "mandate.revoked",
                                                          mandate.id)
    assert entry.detail == {
        "kind": "voluntary", "from_state": "active", "to_state": "revoked",
        "services": mandate.services, "represented": f"bsn:{JAN}",
        "representative": f"bsn:{FATIMA}", "reason": "no longer needed"}
    assert audit.verify(seeded).ok


def test_a_rolled_back_revoke_leaves_neither_the_change_nor_its_audit_entry(
        seeded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    mandate = seeded.query(Mandate).filter_by(represented_id=JAN, kind="voluntary").one()
    events_before = seeded.query(MandateEvent).count()
    monkeypatch.setattr(seeded, "commit", lambda: None)  # the caller's transaction, not ended
    Register(seeded, _catalogue(seeded)).revoke(actor=JAN, mandate_id=mandate.id)
    assert _entries(seeded, "mandate.revoked")  # pending in the same transaction
    monkeypatch.undo()
    seeded.rollback()
    assert _entries(seeded) == []
    assert seeded.query(MandateEvent).count() == events_before
    assert seeded.get(Mandate, mandate.id).state == "active"
    assert audit.verify(seeded).ok


def test_organisation_grants_roles_and_expiry_are_audited(seeded: Any) -> None:
    from broker.mock_idp.pseudonyms import employee_pseudonym
    from broker.register.models import MACHTIGINGENBEHEERDER
    from broker.register.models import OrganisationRole

    clock = Clock()
    organisations = Organisations(seeded, _catalogue(seeded), clock=clock)
    admin = seeded.query(OrganisationRole).filter_by(
        kvk="10000001", role=MACHTIGINGENBEHEERDER).first().pseudonym
    role = organisations.appoint_administrator(kvk="10000001", pseudonym="new-admin", actor=admin)
    organisations.end_administrator(kvk="10000001", role_id=role.id, actor=admin)
    until = datetime(2100, 1, 1, tzinfo=UTC)
    mandate = organisations.grant_company(kvk="10000001", employee=employee_pseudonym("x", "y"),
                                          services=[OMZET], loa="substantial", chain=False,
                                          actor=admin, valid_until=until)
    clock.now = datetime(2100, 1, 2, tzinfo=UTC)
    organisations.given_by_organisation("10000001")  # notices the end date
    actions = [(e.actor, e.action, e.subject) for e in _entries(seeded)]
    assert actions == [
        (f"eh:{admin}", "role.appointed", "kvk:10000001"),
        (f"eh:{admin}", "role.ended", "kvk:10000001"),
        (f"eh:{admin}", "mandate.granted", mandate.id),
        ("system", "mandate.expired", mandate.id),
    ]
    assert _entries(seeded)[-1].detail["represented"] == "kvk:10000001"
    assert audit.verify(seeded).ok


# -- the bulk import -----------------------------------------------------------------------


def test_a_bulk_import_writes_one_entry_per_batch_in_the_batch_transaction(
        seeded: Any, tmp_path: Path) -> None:
    rows = [f"company,kvk,10000001,pseudonym,emp{n}@bench,{OMZET},,,2025-01-01,"
            for n in range(5)]
    path = tmp_path / "import.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    report = bulk_import.import_file(seeded, _catalogue(seeded), path, actor="admin:tester",
                                     batch_size=2)
    assert report.accepted == 5
    entries = _entries(seeded, "mandates.imported")
    assert [e.detail["count"] for e in entries] == [2, 2, 1]
    assert {e.actor for e in entries} == {"admin:tester"}
    imported = seeded.execute(select(Mandate.id, Mandate.import_key).where(
        Mandate.import_key.is_not(None)).order_by(Mandate.id)).all()
    first_batch = imported[:2]
    assert entries[0].detail["first_id"] == first_batch[0].id
    assert entries[0].detail["last_id"] == first_batch[1].id
    import hashlib
    assert entries[0].detail["keys_sha256"] == hashlib.sha256(
        "\n".join(row.import_key for row in first_batch).encode()).hexdigest()
    assert audit.verify(seeded).ok
    # importing the same file again writes no batch and so no entry
    bulk_import.import_file(seeded, _catalogue(seeded), path, actor="admin:tester", batch_size=2)
    assert len(_entries(seeded, "mandates.imported")) == 3


def test_a_failed_import_batch_leaves_no_audit_entry(seeded: Any, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "import.csv"
    path.write_text(HEADER + f"\ncompany,kvk,10000001,pseudonym,e1,{OMZET},,,2025-01-01,\n")

    def broken(*_args: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(bulk_import.writer, "_insert_events", broken)
    with pytest.raises(RuntimeError):
        bulk_import.import_file(seeded, _catalogue(seeded), path, actor="admin:tester")
    assert _entries(seeded) == []
    assert audit.verify(seeded).ok


# -- logins (a live broker) ----------------------------------------------------------------

base_url = flows.base_url
live_app = flows.live_app
browser = flows.browser
broker_db = flows.broker_db


@pytest.fixture
def rp(broker_db: Any, base_url: str) -> OidcRelyingParty:
    from broker.frontends.oidc.clients import register_client

    secret = register_client(broker_db, client_id="audit-rp", redirect_uris=[OIDC_REDIRECT],
                             secret=None, may_receive_bsn=True)
    broker_db.commit()
    assert secret
    return OidcRelyingParty(base_url, "audit-rp", secret)


def test_a_completed_oidc_login_for_someone_else_is_audited(
        browser: Browser, rp: OidcRelyingParty, broker_db: Any) -> None:
    arrival = oidc_login(browser, rp, INKOMSTEN, "fatima", choose=f"bsn:{JAN}")
    assert isinstance(arrival, Arrival), browser.text()
    rp.finish(arrival)
    broker_db.rollback()  # see what the server committed
    mandate = broker_db.query(Mandate).filter_by(represented_id=JAN, kind="voluntary").one()
    (entry,) = _entries(broker_db, "login.completed")
    assert (entry.actor, entry.subject) == (f"bsn:{FATIMA}", "audit-rp")
    detail = entry.detail
    assert detail["represents"] == [f"bsn:{JAN}"]
    assert detail["mandate"] == {"id": mandate.id, "kind": "voluntary", "role": None}
    assert detail["relying_party"] == "audit-rp" and detail["frontend"] == "oidc"
    assert detail["service"] == INKOMSTEN and detail["level"] == "substantial"
    assert detail["connector"] == "digid" and len(detail["flow"]) > 20
    assert audit.verify(broker_db).ok


def test_a_login_for_oneself_is_audited_without_a_mandate(
        browser: Browser, rp: OidcRelyingParty, broker_db: Any) -> None:
    rp.finish(oidc_login(browser, rp, INKOMSTEN, "jan"))
    broker_db.rollback()
    (entry,) = _entries(broker_db, "login.completed")
    assert entry.actor == f"bsn:{JAN}"
    assert entry.detail["represents"] == [] and "mandate" not in entry.detail


def test_a_refused_login_is_audited_as_failed_with_the_reason_and_relying_party(
        browser: Browser, rp: OidcRelyingParty, broker_db: Any) -> None:
    outcome = oidc_login(browser, rp, INKOMSTEN, "henk")  # level too low
    assert not isinstance(outcome, Arrival)
    broker_db.rollback()
    assert _entries(broker_db, "login.completed") == []
    (entry,) = _entries(broker_db, "login.failed")
    # the mock DigiD refuses henk's level itself: nobody was authenticated
    assert entry.actor == "anonymous" and entry.subject == "audit-rp"
    assert entry.detail["state"] == "upstream" and entry.detail["connector"] == "digid"
    assert entry.detail["reason"] == "InsufficientLoaError"
    assert entry.detail["error"] == "access_denied"
    assert entry.detail["relying_party"] == "audit-rp"
    assert audit.verify(broker_db).ok


# -- the command line ----------------------------------------------------------------------


@pytest.fixture
def run(instance_path: Path) -> Any:
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(main, [*args, "--instance", str(instance_path)],
                             catch_exceptions=False)
    return invoke


def _trail(run: Any) -> None:
    """Three administrator actions: three admin entries (and a mandate entry)."""
    for n in range(3):
        result = run("clients", "add", "--client-id", f"rp-{n}", "--redirect-uri",
                     "https://rp.example/cb")
        assert result.exit_code == 0, result.output


def test_cli_commands_that_change_things_are_audited_as_the_os_user(run: Any) -> None:
    _trail(run)
    result = run("mandates", "legal", "add", "--represented", JAN, "--representative", FATIMA,
                 "--role", "bewind", "--service", INKOMSTEN, "--court-reference", "C/13/1")
    assert result.exit_code == 0, result.output
    shown = run("audit", "show", "--last", "5")
    assert shown.exit_code == 0
    lines = shown.output.splitlines()
    assert len(lines) == 5
    me = getpass.getuser()
    assert f"cli:{me} admin.client_added rp-2" in lines[2]
    assert f"admin:{me} mandate.recorded" in lines[3]
    assert f"cli:{me} admin.legal_recorded" in lines[4]


def test_cli_refused_command_leaves_no_admin_entry(run: Any) -> None:
    result = run("clients", "add", "--client-id", "rp-1", "--redirect-uri", "http://rp.example/cb")
    assert result.exit_code == 1
    assert run("audit", "verify").output.startswith("audit trail intact: 0 entries")


def test_cli_verify_reports_an_intact_trail_and_its_head(run: Any) -> None:
    _trail(run)
    result = run("audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("audit trail intact: 3 entries, head ")
    head = result.output.split()[-1]
    assert run("audit", "verify", "--head", head).exit_code == 0


def test_cli_verify_names_an_entry_changed_by_sql(run: Any, database_url: str) -> None:
    _trail(run)
    execute_sql(database_url, "UPDATE audit_entry SET subject = 'rp-x' WHERE seq = 2")
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert result.output.startswith(f"audit trail broken at entry 2: {audit.CHANGED}")


def test_cli_verify_names_an_entry_deleted_by_sql(run: Any, database_url: str) -> None:
    _trail(run)
    execute_sql(database_url, "DELETE FROM audit_entry WHERE seq = 2")
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert result.output.startswith(f"audit trail broken at entry 2: {audit.REMOVED}")


def test_cli_verify_names_an_entry_inserted_by_sql(run: Any, database_url: str) -> None:
    """A forged entry with a hash that is right for its content, chained to the last one."""
    _trail(run)
    [(last,)] = execute_sql(database_url, "SELECT hash FROM audit_entry WHERE seq = 3")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    forged = audit.entry_hash(last, seq=4, at=at, actor="cli:mallory",
                              action="admin.client_added", subject="evil-rp", detail={})
    execute_sql(database_url, "INSERT INTO audit_entry (seq, at, actor, action, subject, "
                "detail, prev_hash, hash) VALUES (4, '2026-01-01 00:00:00.000000', 'cli:mallory', "
         f"'admin.client_added', 'evil-rp', '{{}}', '{last}', '{forged}')")
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert result.output.startswith(f"audit trail broken at entry 4: {audit.AFTER_HEAD}")


def test_cli_verify_refuses_a_head_that_is_not_a_hash(run: Any) -> None:
    result = CliRunner().invoke(main, ["audit", "verify", "--head", "abc"])
    assert result.exit_code == 2 and "64 hexadecimal digits" in result.output


def test_cli_verify_counts_entries_written_through_the_register(run: Any,
                                                                database_url: str) -> None:
    run("mandates", "legal", "add", "--represented", JAN, "--representative", FATIMA,
        "--role", "bewind", "--service", INKOMSTEN, "--court-reference", "C/13/2")
    result = run("audit", "verify")
    assert result.exit_code == 0 and "2 entries" in result.output
    [(count,)] = execute_sql(database_url, "SELECT count(*) FROM audit_entry")
    assert count == 2
