"""The answer cache on Redis, shared by every replica (:class:`middleware.cache.store.ResultStore`).

A group is one hash; each field holds ``expiry|encoded result`` (expiry in Unix seconds), so a
lookup of the public and the caller's own field is one ``HMGET``: one round trip. The hash lives
as long as the longest lifetime allowed (``max_ttl``), and a stale field is ignored (and goes
with its hash). Redis being unreachable makes every lookup a miss, never a failed call.

Each lookup and store is a round trip, counted as a ``cache`` operation (its deadline the
socket timeout); the in-memory store makes none, so it counts nothing.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from types import TracebackType

import redis.asyncio as redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from middleware.cache.store import Hit, read_group, tools_group
from middleware.protocol.operations import OPERATIONS

log = logging.getLogger("portcullis.cache")

SOCKET_TIMEOUT = 1.0
"""Seconds a round trip may take before it counts as a miss (and a ``cache`` timeout)."""


class _RoundTrip:
    """One round trip to Redis, counted as a ``cache`` operation; a socket timeout as a timeout."""

    __slots__ = ("started",)

    def __enter__(self) -> None:
        self.started = time.monotonic()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        timed_out = isinstance(exc, RedisTimeout)
        OPERATIONS.record("cache", time.monotonic() - self.started, timed_out=timed_out)


class RedisResultStore:
    def __init__(self, url: str, *, prefix: str, max_ttl: float) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
        )
        OPERATIONS.configure("cache", SOCKET_TIMEOUT)
        self._prefix = prefix
        self._lifetime = max(1, math.ceil(max_ttl))
        self._warned = False

    async def get(self, group: str, fields: Sequence[str]) -> Hit | None:
        try:
            with _RoundTrip():
                values = await self._redis.hmget(self._prefix + group, list(fields))
        except RedisError as exc:
            self._warn(exc)
            return None
        self._warned = False
        now = time.time()
        for value in values:
            if value is None:
                continue
            raw = value if isinstance(value, bytes) else str(value).encode()
            expiry, _, payload = raw.partition(b"|")
            try:
                fresh_for = float(expiry) - now
            except ValueError:
                continue
            if fresh_for > 0:
                return payload, fresh_for
        return None

    async def put(self, group: str, field: str, value: bytes, ttl: float) -> None:
        key = self._prefix + group
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(key, field, b"%.3f|" % (time.time() + ttl) + value)
                pipe.expire(key, self._lifetime)
                with _RoundTrip():
                    await pipe.execute()
        except RedisError as exc:
            self._warn(exc)

    async def drop(self, group: str) -> None:
        try:
            await self._redis.delete(self._prefix + group)
        except RedisError as exc:
            self._warn(exc)

    async def clear(self, server: str | None = None) -> int:
        """Forget the cached answers of this deployment (of ``server`` only, if given): the
        groups under the prefix; how many groups went."""
        patterns = [self._prefix + "*"]
        if server is not None:
            patterns = [self._prefix + read_group(server, "*"), self._prefix + tools_group(server)]
        gone = 0
        try:
            for pattern in patterns:
                async for key in self._redis.scan_iter(match=pattern, count=500):
                    gone += int(await self._redis.delete(key))
        except RedisError as exc:
            self._warn(exc)
        return gone

    async def close(self) -> None:
        await self._redis.aclose()

    def _warn(self, exc: RedisError) -> None:
        """Said once until Redis answers again: a flood of identical warnings helps nobody."""
        if not self._warned:
            self._warned = True
            log.warning("the answer cache's Redis is unreachable, answering without it: %s", exc)
