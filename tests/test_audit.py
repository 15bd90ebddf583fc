"""The audit trail's chain: record appends, verify names the first broken entry and why."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from typing import Any

import pytest
from sqlalchemy import text

from broker import audit
from broker.audit import AuditEntry

T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _fill(session: Any, count: int) -> list[AuditEntry]:
    entries = [audit.record(session, actor=f"bsn:99999365{n % 10}", action="mandate.revoked",
                            subject=f"mandate-{n}", at=T0 + timedelta(seconds=n),
                            detail={"n": n, "reason": "moved abroad", "naam": "Jan Jansen ë"})
               for n in range(1, count + 1)]
    session.commit()
    return entries


def _forge(session: Any, *, seq: int, prev_hash: str, actor: str = "admin:mallory",
           at: datetime = T0) -> str:
    """Insert an entry whose hash is right for its own content and ``prev_hash``."""
    detail: dict[str, Any] = {"forged": True}
    digest = audit.entry_hash(prev_hash, seq=seq, at=at, actor=actor, action="admin.forged",
                              subject=None, detail=detail)
    session.execute(text(
        "INSERT INTO audit_entry (seq, at, actor, action, subject, detail, prev_hash, hash) "
        "VALUES (:seq, :at, :actor, 'admin.forged', NULL, :detail, :prev, :hash)"),
        {"seq": seq, "at": at.replace(tzinfo=None).isoformat(sep=" "), "actor": actor,
         "detail": '{"forged": true}', "prev": prev_hash, "hash": digest})
    return digest


def _check(session: Any, first_broken: int | None, reason: str) -> audit.Verification:
    result = audit.verify(session)
    assert (result.ok, result.first_broken, result.reason) == (False, first_broken, reason)
    return result


# -- record --------------------------------------------------------------------------------


def test_an_empty_trail_is_intact_with_the_genesis_head(database: Any) -> None:
    assert audit.verify(database) == audit.Verification(
        ok=True, checked=0, first_broken=None, reason=None, head=audit.GENESIS)


def test_record_numbers_entries_from_one_and_chains_each_to_the_one_before(database: Any) -> None:
    first, second, third = _fill(database, 3)
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev_hash == audit.GENESIS
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert len({first.hash, second.hash, third.hash}) == 3
    result = audit.verify(database)
    assert result == audit.Verification(ok=True, checked=3, first_broken=None, reason=None,
                                        head=third.hash)


def test_the_hash_covers_the_time_as_stored_with_microseconds_in_utc(database: Any) -> None:
    amsterdam = timezone(timedelta(hours=1))
    entry = audit.record(database, actor="system", action="mandate.expired",
                         at=datetime(2025, 1, 2, 4, 4, 5, 678901, tzinfo=amsterdam))
    database.commit()
    database.expire_all()
    stored = database.get(AuditEntry, entry.seq)
    assert stored.at.replace(tzinfo=UTC) == T0  # SQLite gives naive UTC back
    assert entry.hash == audit.entry_hash(audit.GENESIS, seq=1, at=T0, actor="system",
                                          action="mandate.expired", subject=None, detail={})
    assert audit.verify(database).ok


def test_record_normalises_the_detail_to_what_the_column_reads_back(database: Any) -> None:
    audit.record(database, actor="system", action="mandates.imported",
                 detail={"ids": ("a", "b"), 7: "seven"})  # type: ignore[dict-item]  # a non-str key on purpose
    database.commit()
    database.expire_all()
    assert database.get(AuditEntry, 1).detail == {"ids": ["a", "b"], "7": "seven"}
    assert audit.verify(database).ok


def test_record_refuses_a_naive_time_a_bad_action_and_an_empty_actor(database: Any) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        audit.record(database, actor="system", action="login.failed", at=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="dotted"):
        audit.record(database, actor="system", action="Login Failed")
    with pytest.raises(ValueError, match="actor"):
        audit.record(database, actor="", action="login.failed")


def test_an_entry_rolled_back_with_its_change_leaves_no_trace_and_no_gap(database: Any) -> None:
    _fill(database, 2)
    audit.record(database, actor="system", action="mandate.expired")
    database.rollback()
    third = audit.record(database, actor="system", action="mandate.expired")
    database.commit()
    assert third.seq == 3
    assert audit.verify(database).ok


def test_recent_lists_the_newest_entries_first(database: Any) -> None:
    _fill(database, 5)
    assert [entry.seq for entry in audit.recent(database, 3)] == [5, 4, 3]
    assert "mandate.revoked mandate-5" in audit.recent(database, 1)[0].line()


# -- verify: each kind of tampering, named at the first broken entry -------------------------


def test_a_changed_detail_is_named_changed_at_that_entry(database: Any) -> None:
    _fill(database, 5)
    database.execute(text("UPDATE audit_entry SET detail = :d WHERE seq = 3"),
                     {"d": '{"n": 3, "reason": "none", "naam": "Jan Jansen \\u00eb"}'})
    database.commit()
    result = _check(database, 3, audit.CHANGED)
    assert result.checked == 2


def test_a_changed_actor_is_named_changed_at_that_entry(database: Any) -> None:
    _fill(database, 5)
    database.execute(text("UPDATE audit_entry SET actor = 'bsn:999990676' WHERE seq = 4"))
    database.commit()
    _check(database, 4, audit.CHANGED)


def test_a_changed_time_is_named_changed_at_that_entry(database: Any) -> None:
    _fill(database, 3)
    database.execute(text("UPDATE audit_entry SET at = '2025-01-02 03:04:06.000000' "
                          "WHERE seq = 1"))
    database.commit()
    _check(database, 1, audit.CHANGED)


def test_a_removed_middle_entry_is_named_removed_at_its_number(database: Any) -> None:
    _fill(database, 5)
    database.execute(text("DELETE FROM audit_entry WHERE seq = 3"))
    database.commit()
    result = _check(database, 3, audit.REMOVED)
    assert result.checked == 2


def test_a_removed_first_entry_is_named_removed_at_one(database: Any) -> None:
    _fill(database, 3)
    database.execute(text("DELETE FROM audit_entry WHERE seq = 1"))
    database.commit()
    _check(database, 1, audit.REMOVED)


def test_a_removed_last_entry_is_a_head_mismatch_at_its_number(database: Any) -> None:
    _fill(database, 5)
    database.execute(text("DELETE FROM audit_entry WHERE seq = 5"))
    database.commit()
    result = _check(database, 5, audit.TAIL_REMOVED)
    assert result.checked == 4


def test_a_removed_entry_whose_successors_were_renumbered_is_named_removed(
        database: Any) -> None:
    _fill(database, 5)
    database.execute(text("DELETE FROM audit_entry WHERE seq = 3"))
    database.execute(text("UPDATE audit_entry SET seq = seq - 1 WHERE seq > 3"))
    database.execute(text("UPDATE audit_head SET seq = 4"))
    database.commit()
    _check(database, 3, audit.REMOVED)


def test_a_forged_entry_appended_behind_the_heads_back_is_named_inserted(
        database: Any) -> None:
    entries = _fill(database, 4)
    _forge(database, seq=5, prev_hash=entries[-1].hash)
    database.commit()
    result = _check(database, 5, audit.AFTER_HEAD)
    assert result.checked == 4 and result.head == entries[-1].hash


def test_a_forged_entry_slipped_into_the_middle_is_named_inserted(database: Any) -> None:
    """The forger renumbers the later entries, chains a valid-looking entry to entry 2 and
    moves the head along: entry 3 itself checks out, but the old entry 3 (now 4) does not
    follow it."""
    entries = _fill(database, 5)
    for seq in (5, 4, 3):
        database.execute(text("UPDATE audit_entry SET seq = seq + 1 WHERE seq = :s"), {"s": seq})
    _forge(database, seq=3, prev_hash=entries[1].hash)
    database.execute(text("UPDATE audit_head SET seq = 6"))
    database.commit()
    result = _check(database, 3, audit.INSERTED)
    assert result.checked == 3  # 1, 2 and the forged 3 are each intact on their own


def test_a_forged_entry_before_the_first_is_named_inserted(database: Any) -> None:
    _fill(database, 2)
    _forge(database, seq=0, prev_hash=audit.GENESIS)
    database.commit()
    _check(database, 0, audit.INSERTED)


def test_a_forged_entry_with_a_number_past_a_gap_is_named_inserted(database: Any) -> None:
    entries = _fill(database, 3)
    _forge(database, seq=9, prev_hash=entries[-1].hash)
    database.execute(text("UPDATE audit_head SET seq = 9"))
    database.commit()
    _check(database, 9, audit.INSERTED)


def test_a_reordered_pair_is_named_reordered_at_the_first_of_the_two(database: Any) -> None:
    _fill(database, 5)
    database.execute(text("UPDATE audit_entry SET seq = -1 WHERE seq = 3"))
    database.execute(text("UPDATE audit_entry SET seq = 3 WHERE seq = 4"))
    database.execute(text("UPDATE audit_entry SET seq = 4 WHERE seq = -1"))
    database.commit()
    result = _check(database, 3, audit.REORDERED)
    assert result.checked == 2


def test_a_changed_head_hash_is_a_head_mismatch_at_the_last_entry(database: Any) -> None:
    _fill(database, 3)
    database.execute(text("UPDATE audit_head SET hash = :h"), {"h": "f" * 64})
    database.commit()
    _check(database, 3, audit.HEAD_MISMATCH)


def test_a_rewritten_trail_is_caught_only_by_a_head_kept_elsewhere(database: Any) -> None:
    """Rewriting every entry consistently (and the head) fools the chain itself; a head hash
    the operator noted earlier does not appear in the rewritten trail."""
    entries = _fill(database, 3)
    kept = entries[1].hash
    assert audit.verify(database, head=kept).ok
    database.execute(text("DELETE FROM audit_entry"))
    database.execute(text("UPDATE audit_head SET seq = 0, hash = :g"), {"g": audit.GENESIS})
    database.commit()
    forged = [audit.record(database, actor="admin:mallory", action="admin.rewritten",
                           at=T0 + timedelta(seconds=n)) for n in range(3)]
    database.commit()
    assert audit.verify(database).ok
    result = audit.verify(database, head=kept)
    assert (result.ok, result.first_broken, result.reason) == (False, None, audit.ANCHOR_MISSING)
    assert result.head == forged[-1].hash


def test_a_deleted_head_row_is_named_and_stops_appending(database: Any) -> None:
    _fill(database, 2)
    database.execute(text("DELETE FROM audit_head"))
    database.commit()
    _check(database, None, audit.HEAD_MISSING)
    with pytest.raises(audit.AuditError):
        audit.record(database, actor="system", action="mandate.expired")


def test_verify_walks_many_entries_in_chunks_and_finds_a_break_in_a_later_chunk(
        database: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "VERIFY_CHUNK", 7)
    for n in range(1, 251):
        audit.record(database, actor="system", action="login.completed", detail={"n": n})
        if n % 50 == 0:
            database.commit()
    result = audit.verify(database)
    assert result.ok and result.checked == 250
    database.execute(text("UPDATE audit_entry SET action = 'login.failed' WHERE seq = 200"))
    database.commit()
    assert _check(database, 200, audit.CHANGED).checked == 199


def test_concurrent_appenders_in_separate_sessions_never_share_a_number(
        database: Any) -> None:
    """Each thread appends through its own connection; the head row's lock orders them."""
    import threading

    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    url = database.get_bind().url
    waits = {"timeout": 60} if url.get_backend_name() == "sqlite" else {}  # for the write lock
    engine = create_engine(url, connect_args=waits)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            with Session(engine) as session:
                for n in range(10):
                    audit.record(session, actor=f"system:{worker}", action="login.completed",
                                 detail={"n": n})
                    session.commit()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=append, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert errors == []
    result = audit.verify(database)
    assert result.ok and result.checked == 40
    assert sorted(e.seq for e in audit.recent(database, 100)) == list(range(1, 41))


def test_a_second_first_appender_waits_for_the_first_head_and_appends_after_it(
        database: Any) -> None:
    """The first entry of a trail also makes its head row. On PostgreSQL a second appender
    that found no head to lock (the first one's is not committed yet) waits on the head's key,
    then appends after the first one instead of failing; SQLite cannot get there (its first
    UPDATE already takes the write lock)."""
    import threading
    import time

    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    url = database.get_bind().url
    if url.get_backend_name() != "postgresql":
        pytest.skip("only PostgreSQL lets two appenders find no head at once")
    engine = create_engine(url)
    errors: list[BaseException] = []
    with Session(engine) as first, Session(engine) as second:
        second_pid = second.execute(text("SELECT pg_backend_pid()")).scalar_one()
        audit.record(first, actor="system:1", action="login.completed")

        def append_second() -> None:
            try:
                audit.record(second, actor="system:2", action="login.completed")
                second.commit()
            except BaseException as error:  # reported below
                errors.append(error)

        thread = threading.Thread(target=append_second)
        thread.start()
        waiting = text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted")
        deadline = time.monotonic() + 60
        while not database.execute(waiting, {"pid": second_pid}).scalar_one():
            assert time.monotonic() < deadline, "the second appender never waited"
            time.sleep(0.01)
        first.commit()
        thread.join()
    engine.dispose()
    assert errors == []
    assert [(e.seq, e.actor) for e in audit.recent(database, 10)] == [(2, "system:2"),
                                                                     (1, "system:1")]
    assert audit.verify(database).ok
