"""The SQL state store: expiry, single use, only-if-absent."""

from datetime import timedelta
from typing import Any

import pytest

from broker.state import SqlStateStore
from tests.fakes import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database: Any, clock: Clock) -> SqlStateStore:
    return SqlStateStore(lambda: database, clock)


def test_put_then_get_returns_the_value(store: SqlStateStore) -> None:
    store.put("k", {"a": 1}, ttl=60)
    assert store.get("k") == {"a": 1}


def test_value_is_gone_after_its_ttl(store: SqlStateStore, clock: Clock) -> None:
    store.put("k", {"a": 1}, ttl=60)
    clock.now += timedelta(seconds=61)
    assert store.get("k") is None
    assert store.take("k") is None


def test_take_gives_the_value_exactly_once(store: SqlStateStore) -> None:
    store.put("code", {"v": 1}, ttl=60)
    assert store.take("code") == {"v": 1}
    assert store.take("code") is None
    assert store.get("code") is None


def test_add_refuses_a_key_that_is_live(store: SqlStateStore) -> None:
    assert store.add("seen:1", {}, ttl=60) is True
    assert store.add("seen:1", {}, ttl=60) is False


def test_add_accepts_a_key_whose_previous_value_expired(store: SqlStateStore, clock: Clock) -> None:
    assert store.add("seen:1", {}, ttl=60)
    clock.now += timedelta(seconds=120)
    assert store.add("seen:1", {}, ttl=60)


def test_purge_removes_only_expired_entries(store: SqlStateStore, clock: Clock) -> None:
    store.put("old", {}, ttl=10)
    store.put("new", {}, ttl=100)
    clock.now += timedelta(seconds=50)
    assert store.purge_expired() == 1
    assert store.get("new") == {}


def test_incr_counts_up_from_one(store: SqlStateStore) -> None:
    assert [store.incr("attempts:x", 60) for _ in range(3)] == [1, 2, 3]
    assert store.incr("attempts:y", 60) == 1


def test_incr_starts_again_after_the_counter_expired(clock: Clock, store: SqlStateStore) -> None:
    store.incr("attempts:x", 60)
    store.incr("attempts:x", 60)
    clock.now += timedelta(seconds=61)
    assert store.incr("attempts:x", 60) == 1
