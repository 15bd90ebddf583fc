"""Short-lived state in Redis, for brokers that run as several processes or machines.

:class:`RedisStateStore` is a :class:`~broker.state.StateStore` whose every operation is one
Redis command (or one script), so single use holds across all processes that share the
server: ``take`` is GETDEL, ``add`` is SET NX, and a counter gets its expiry in the same
script that creates it. Redis expires the keys itself; nothing needs purging. Needs Redis 6.2
or later (GETDEL).
"""

from __future__ import annotations

import json
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from broker.errors import ConfigError

#: INCRBY, and EXPIRE when the counter is new, in one step: a counter never lives without
#: expiry, and a live one keeps the expiry it was made with.
_INCR = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if redis.call('TTL', KEYS[1]) == -1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""

#: :meth:`RedisStateStore.advance`: KEYS take, put[, mark]; ARGV value, ttl[, mark ttl]
_ADVANCE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 'taken'
end
if #KEYS == 3 and not redis.call('SET', KEYS[3], '{}', 'EX', ARGV[3], 'NX') then
    return 'marked'
end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return false
"""


class RedisStateStore:
    """A :class:`~broker.state.StateStore` on a Redis server; values are JSON, keys prefixed."""

    def __init__(self, client: redis.Redis, prefix: str = "broker:") -> None:
        self._client = client
        self._prefix = prefix
        self._incr = client.register_script(_INCR)
        self._advance = client.register_script(_ADVANCE)

    def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        self._client.set(self._key(key), json.dumps(value), ex=_seconds(ttl))

    def get(self, key: str) -> dict[str, Any] | None:
        return _loads(self._client.get(self._key(key)))

    def take(self, key: str) -> dict[str, Any] | None:
        return _loads(self._client.getdel(self._key(key)))

    def add(self, key: str, value: dict[str, Any], ttl: int) -> bool:
        stored = self._client.set(self._key(key), json.dumps(value), ex=_seconds(ttl), nx=True)
        return bool(stored)

    def delete(self, key: str) -> None:
        self._client.delete(self._key(key))

    def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        return int(self._incr(keys=[self._key(key)], args=[_seconds(ttl), int(amount)]))

    def count(self, key: str) -> int:
        raw = self._client.get(self._key(key))
        return 0 if raw is None else int(raw)

    def advance(self, *, take: str, put: tuple[str, dict[str, Any], int],
                mark: tuple[str, int] | None = None) -> str | None:
        """One script, so no other command runs between its checks and its writes."""
        keys = [self._key(take), self._key(put[0])]
        args: list[Any] = [json.dumps(put[1]), _seconds(put[2])]
        if mark is not None:
            keys.append(self._key(mark[0]))
            args.append(_seconds(mark[1]))
        stopped = self._advance(keys=keys, args=args)
        return None if stopped is None else bytes(stopped).decode()

    def _key(self, key: str) -> str:
        return self._prefix + key


def connect(url: str, prefix: str = "broker:") -> RedisStateStore:
    """A store on the server at ``url``, checked now: a wrong URL or a server that does not
    answer is a :class:`ConfigError` at start-up, not an error on the first login."""
    try:
        # one quick retry (a connection the server dropped, e.g. after a restart), then the
        # error: while Redis is down a request gets its 503 at once, not after backing off
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5,
                                      retry=Retry(NoBackoff(), 1))
        client.ping()
    except ValueError as exc:  # the URL itself; its text may hold a password, so not shown
        raise ConfigError(f"REDIS_URL: not a usable Redis URL ({type(exc).__name__})") from None
    except redis.RedisError as exc:
        raise ConfigError(f"REDIS_URL: Redis does not answer: {exc}") from None
    return RedisStateStore(client, prefix)


def _seconds(ttl: int) -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        raise ValueError(f"ttl must be whole seconds, at least 1, not {ttl!r}")
    return ttl


def _loads(raw: Any) -> dict[str, Any] | None:
    return None if raw is None else json.loads(raw)  # type: ignore[no-any-return]
