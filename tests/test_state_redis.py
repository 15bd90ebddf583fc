"""The state stores side by side: SQL always, Redis when a server answers at REDIS_URL (else
redis://127.0.0.1:6379/15). Both must give the same answers, single use under concurrency
included; then the broker with REDIS_URL set, and the checks on REDIS_URL itself.

Time passes by hand: the SQL store reads a test clock; on Redis :meth:`Backend.elapse`
shortens each key's remaining life by that much, and a key whose life is over is expired by
Redis itself (PEXPIRE 1 ms), so what the store then sees is real Redis expiry.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker

from broker.app import create_app
from broker.config import demo_config
from broker.config import load_settings
from broker.db import sqlalchemy_url
from broker.errors import ConfigError
from broker.frontends.oidc import register_client
from broker.state import SqlStateStore
from broker.state import StateStore
from broker.state_redis import RedisStateStore
from broker.web.database import db
from tests.fakes import Clock
from tests.frontends.oidc.conftest import REDIRECT_URI
from tests.frontends.oidc.conftest import SECRET
from tests.frontends.oidc.conftest import authorize_params

CALLERS = 20


def _redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(_redis_url(), socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(f"Redis is not there at REDIS_URL or redis://127.0.0.1:6379/15: {exc}")
    yield client
    client.close()


@dataclass
class Backend:
    store: StateStore
    elapse: Callable[[int], None]
    #: end the calling thread's use of the store (its SQL session), as a request's end does
    release: Callable[[], None] = lambda: None


def _sql_backend(database_url: str) -> Iterator[Backend]:
    """Per-thread sessions on the test's database (SQLite, or PostgreSQL in the services
    pass), as separate processes would have."""
    engine = create_engine(sqlalchemy_url(database_url), connect_args={
        "timeout": 15, "check_same_thread": False} if database_url.startswith("sqlite") else {})
    sessions = scoped_session(sessionmaker(engine))
    clock = Clock()

    def elapse(seconds: int) -> None:
        clock.now += timedelta(seconds=seconds)

    yield Backend(SqlStateStore(lambda: sessions(), clock), elapse, sessions.remove)
    sessions.remove()
    engine.dispose()


def _redis_backend(client: redis.Redis) -> Iterator[Backend]:
    prefix = f"test-{secrets.token_hex(4)}:"

    def elapse(seconds: int) -> None:
        for key in client.scan_iter(match=prefix + "*"):
            left = client.pttl(key)
            assert left > 0, f"{key!r} has no expiry"
            if left > seconds * 1000:
                client.pexpire(key, left - seconds * 1000)
                continue
            client.pexpire(key, 1)
            for _ in range(1000):
                if not client.exists(key):
                    break
                time.sleep(0.001)
            else:
                pytest.fail(f"Redis did not expire {key!r}")

    yield Backend(RedisStateStore(client, prefix=prefix), elapse)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)


@pytest.fixture(params=["sql", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sql":
        yield from _sql_backend(request.getfixturevalue("database_url"))
    else:
        yield from _redis_backend(request.getfixturevalue("redis_client"))


@pytest.fixture
def store(backend: Backend) -> StateStore:
    return backend.store


def _all_at_once(backend: Backend, call: Callable[[], Any]) -> list[Any]:
    """``call`` from CALLERS threads released together; every result (or exception)."""
    start = threading.Barrier(CALLERS)

    def caller() -> Any:
        start.wait()
        try:
            return call()
        finally:
            backend.release()

    with ThreadPoolExecutor(CALLERS) as pool:
        futures = [pool.submit(caller) for _ in range(CALLERS)]
        return [future.result() for future in futures]


def test_put_then_get_returns_the_value(store: StateStore) -> None:
    store.put("k", {"a": 1, "b": ["x", None]}, ttl=60)
    assert store.get("k") == {"a": 1, "b": ["x", None]}


def test_get_of_an_absent_key_is_none(store: StateStore) -> None:
    assert store.get("nothing") is None
    assert store.take("nothing") is None


def test_put_replaces_the_value(store: StateStore) -> None:
    store.put("k", {"a": 1}, ttl=60)
    store.put("k", {"a": 2}, ttl=60)
    assert store.get("k") == {"a": 2}


def test_value_is_gone_after_its_ttl(store: StateStore, backend: Backend) -> None:
    store.put("k", {"a": 1}, ttl=60)
    backend.elapse(59)
    assert store.get("k") == {"a": 1}
    backend.elapse(2)
    assert store.get("k") is None
    assert store.take("k") is None


def test_take_gives_the_value_exactly_once(store: StateStore) -> None:
    store.put("code", {"v": 1}, ttl=60)
    assert store.take("code") == {"v": 1}
    assert store.take("code") is None
    assert store.get("code") is None


def test_take_gives_the_value_to_exactly_one_of_concurrent_callers(store: StateStore,
                                                                   backend: Backend) -> None:
    store.put("code", {"v": 1}, ttl=60)
    results = _all_at_once(backend, lambda: store.take("code"))
    assert results.count({"v": 1}) == 1
    assert results.count(None) == CALLERS - 1


def test_delete_removes_the_value(store: StateStore) -> None:
    store.put("k", {}, ttl=60)
    store.delete("k")
    store.delete("k")
    assert store.get("k") is None


def test_add_refuses_a_key_that_is_live(store: StateStore) -> None:
    assert store.add("seen:1", {"n": 1}, ttl=60) is True
    assert store.add("seen:1", {"n": 2}, ttl=60) is False
    assert store.get("seen:1") == {"n": 1}


def test_add_stores_for_exactly_one_of_concurrent_callers(store: StateStore,
                                                          backend: Backend) -> None:
    results = _all_at_once(backend, lambda: store.add("seen:1", {}, ttl=60))
    assert results.count(True) == 1
    assert results.count(False) == CALLERS - 1


def test_add_accepts_a_key_whose_previous_value_expired(store: StateStore,
                                                        backend: Backend) -> None:
    assert store.add("seen:1", {}, ttl=60)
    backend.elapse(120)
    assert store.add("seen:1", {}, ttl=60)


def test_incr_counts_up_from_one(store: StateStore) -> None:
    assert [store.incr("attempts:x", 60) for _ in range(3)] == [1, 2, 3]
    assert store.incr("attempts:y", 60) == 1


def test_incr_counts_every_concurrent_call_once(store: StateStore, backend: Backend) -> None:
    assert sorted(_all_at_once(backend, lambda: store.incr("attempts:x", 60))) == list(
        range(1, CALLERS + 1))


def test_incr_starts_again_after_the_counter_expired(store: StateStore,
                                                     backend: Backend) -> None:
    store.incr("attempts:x", 60)
    store.incr("attempts:x", 60)
    backend.elapse(61)
    assert store.incr("attempts:x", 60) == 1


def test_incr_window_starts_with_the_first_increment(store: StateStore,
                                                     backend: Backend) -> None:
    assert store.incr("attempts:x", 60) == 1
    backend.elapse(40)
    assert store.incr("attempts:x", 60) == 2  # does not push the window's end out
    backend.elapse(30)
    assert store.incr("attempts:x", 60) == 1


def test_incr_by_minus_one_gives_a_count_back(store: StateStore, backend: Backend) -> None:
    assert store.incr("attempts:x", 60) == 1
    assert store.incr("attempts:x", 60) == 2
    assert store.incr("attempts:x", 60, -1) == 1
    backend.elapse(61)  # the window the first increment set is kept
    assert store.count("attempts:x") == 0


def test_a_key_longer_than_the_column_works_as_any_other(store: StateStore) -> None:
    """Keys built from request data (a long SAML entity id) may exceed the SQL key column."""
    long, other = "saml-idp-request:https://sp.example/" + "x" * 300, "saml-idp-request:" + "y" * 300
    assert store.add(long, {"a": 1}, ttl=60)
    assert not store.add(long, {"a": 2}, ttl=60)
    assert store.add(other, {"a": 3}, ttl=60)
    assert store.take(long) == {"a": 1} and store.get(long) is None
    assert store.incr(long, 60) == 1 and store.count(long) == 1


def test_delete_removes_a_counter_too(store: StateStore) -> None:
    store.incr("attempts:x", 60)
    store.delete("attempts:x")
    assert store.count("attempts:x") == 0
    assert store.incr("attempts:x", 60) == 1


def test_advance_takes_marks_and_puts_in_one_step(store: StateStore) -> None:
    store.put("request:1", {"flow": "f"}, ttl=60)
    assert store.advance(take="request:1", put=("flow:f", {"state": "on"}, 60),
                         mark=("seen:a", 60)) is None
    assert store.get("request:1") is None
    assert store.get("flow:f") == {"state": "on"}
    assert not store.add("seen:a", {}, ttl=60)


def test_advance_changes_nothing_when_the_key_to_take_is_gone(store: StateStore) -> None:
    assert store.advance(take="request:1", put=("flow:f", {"state": "on"}, 60),
                         mark=("seen:a", 60)) == "taken"
    assert store.get("flow:f") is None
    assert store.add("seen:a", {}, ttl=60), "no mark was left"


def test_advance_changes_nothing_when_the_mark_is_live(store: StateStore) -> None:
    store.put("request:1", {"flow": "f"}, ttl=60)
    store.add("seen:a", {}, ttl=60)
    assert store.advance(take="request:1", put=("flow:f", {"state": "on"}, 60),
                         mark=("seen:a", 60)) == "marked"
    assert store.get("request:1") == {"flow": "f"}
    assert store.get("flow:f") is None


def test_advance_lets_one_of_concurrent_callers_through(store: StateStore,
                                                        backend: Backend) -> None:
    store.put("request:1", {"flow": "f"}, ttl=60)
    outcomes = _all_at_once(backend, lambda: store.advance(
        take="request:1", put=("flow:f", {"state": "on"}, 60), mark=("seen:a", 60)))
    assert sorted(outcomes, key=str) == [None] + ["taken"] * (CALLERS - 1)


def test_count_reads_a_live_counter_without_changing_it(store: StateStore,
                                                       backend: Backend) -> None:
    assert store.count("attempts:x") == 0
    store.incr("attempts:x", 60)
    store.incr("attempts:x", 60)
    assert store.count("attempts:x") == 2
    assert store.count("attempts:x") == 2
    backend.elapse(61)
    assert store.count("attempts:x") == 0


# Redis only: what lands on the server.

def test_redis_keys_are_prefixed_json_with_their_ttl(redis_client: redis.Redis) -> None:
    prefix = f"test-{secrets.token_hex(4)}:"
    store = RedisStateStore(redis_client, prefix=prefix)
    try:
        store.put("flow:abc", {"a": 1}, ttl=60)
        assert redis_client.get(prefix + "flow:abc") == b'{"a": 1}'
        assert 0 < redis_client.ttl(prefix + "flow:abc") <= 60
        store.add("seen:1", {}, ttl=30)
        assert 0 < redis_client.ttl(prefix + "seen:1") <= 30
        store.incr("attempts:x", 90)
        assert 30 < redis_client.ttl(prefix + "attempts:x") <= 90
        redis_client.expire(prefix + "attempts:x", 20)
        assert store.incr("attempts:x", 90) == 2
        assert 0 < redis_client.ttl(prefix + "attempts:x") <= 20
    finally:
        redis_client.delete(*[prefix + key for key in ("flow:abc", "seen:1", "attempts:x")])


def test_redis_stores_with_other_prefixes_do_not_share_keys(redis_client: redis.Redis) -> None:
    one = RedisStateStore(redis_client, prefix=f"test-{secrets.token_hex(4)}:")
    other = RedisStateStore(redis_client, prefix=f"test-{secrets.token_hex(4)}:")
    try:
        one.put("k", {"a": 1}, ttl=60)
        assert other.get("k") is None
        assert other.add("k", {}, ttl=60)
    finally:
        one.delete("k")
        other.delete("k")


@pytest.mark.parametrize("ttl", [0, -1, 1.5])
def test_redis_store_refuses_a_ttl_that_is_not_whole_seconds(redis_client: redis.Redis,
                                                               ttl: Any) -> None:
    store = RedisStateStore(redis_client, prefix=f"test-{secrets.token_hex(4)}:")
    with pytest.raises(ValueError, match="ttl"):
        store.put("k", {}, ttl=ttl)
    assert store.get("k") is None


# The broker with REDIS_URL.

def _broker_keys(client: redis.Redis, kind: str = "") -> set[bytes]:
    return set(client.scan_iter(match=f"broker:{kind}*"))


def test_broker_with_redis_url_keeps_a_login_flow_in_redis(redis_client: redis.Redis,
                                                           instance_path: Path) -> None:
    settings = load_settings(demo_config("http://localhost"), instance_path=instance_path,
                             environ={"REDIS_URL": _redis_url()})
    before = _broker_keys(redis_client)
    app = create_app(settings)
    app.config["TESTING"] = True
    try:
        with app.app_context():
            register_client(db.session(), client_id="rp-redis", redirect_uris=[REDIRECT_URI],
                            secret=SECRET)
            response = app.test_client().get("/oidc/authorize",
                                              query_string=authorize_params("rp-redis"))
            assert response.status_code in (200, 302, 303), response.get_data(as_text=True)
            started = _broker_keys(redis_client, "flow:") - before
            assert len(started) == 1
            key = started.pop()
            assert b'"requester": "rp-redis"' in (redis_client.get(key) or b"")
            assert 0 < redis_client.ttl(key) <= settings.flow_lifetime_seconds
    finally:
        for key in _broker_keys(redis_client) - before:  # only what this test made
            redis_client.delete(key)


def test_broker_refuses_to_start_when_redis_does_not_answer(instance_path: Path) -> None:
    settings = load_settings(demo_config("http://localhost"), instance_path=instance_path,
                             environ={"REDIS_URL": "redis://127.0.0.1:1/0"})
    with pytest.raises(ConfigError, match="REDIS_URL: Redis does not answer"):
        create_app(settings)


# REDIS_URL in the configuration.

def _settings(tmp_path: Path, environ: dict[str, str], **broker: Any) -> Any:
    data = demo_config("http://x")
    data["broker"].update(broker)
    return load_settings(data, instance_path=tmp_path, environ=environ)


def test_without_redis_url_the_state_stays_in_the_database(tmp_path: Path) -> None:
    assert _settings(tmp_path, {}).redis_url is None


def test_redis_url_comes_from_the_environment_before_the_file(tmp_path: Path) -> None:
    url = "redis://:pw@cache:6379/2"
    assert _settings(tmp_path, {"REDIS_URL": url}, redis_url="redis://other/0").redis_url == url
    assert _settings(tmp_path, {}, redis_url="unix:///run/redis.sock").redis_url == (
        "unix:///run/redis.sock")


@pytest.mark.parametrize("url", ["localhost:6379", "http://cache:6379", "redis://",
                                 "redis://:hunter2@cache:port/0", "unix://"])
def test_malformed_redis_url_is_refused_naming_redis_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"^REDIS_URL: ") as refused:
        _settings(tmp_path, {"REDIS_URL": url})
    assert "hunter2" not in str(refused.value)


def test_redis_url_in_the_file_may_not_hold_a_password(tmp_path: Path) -> None:
    for url in ("redis://:hunter2@cache:6379/0", "redis://cache:6379/0?password=hunter2"):
        with pytest.raises(ConfigError, match=r"broker\.redis_url: holds a password") as refused:
            _settings(tmp_path, {}, redis_url=url)
        assert "hunter2" not in str(refused.value)
