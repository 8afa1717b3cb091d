"""Gateway sessions on Redis, so that any replica serves any session (DESIGN.md, "Sessions and
scale"): the :class:`~gateway.front.sessions.SessionStore` the front asks on every request.

Each record is one JSON string under ``<prefix>session:<id>`` that lives ``idle_timeout``
seconds after its last use; a zset ``<prefix>sessions`` scores each id by its last use, for
counting and for operators. A request's lookup is one round trip (``GETEX`` renews the record's
lifetime, ``ZADD XX`` its score, pipelined).

Redis expires records itself. What a replica holds for a session (its live state, its streams)
is ended by that replica: the ids it served are remembered here, and :meth:`expire_idle` (the
janitor) and :meth:`get` report those whose record is gone.

Redis unreachable: no session can be found or opened, so requests are refused with 503 and a
message that says so (:class:`SessionStoreUnavailable`), never a crash; one warning per outage,
one line when it is back.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict
from typing import Any, Final

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from gateway.front.sessions import SessionRecord
from middleware.protocol.errors import Overloaded

log = logging.getLogger("portcullis.sessions")

SOCKET_TIMEOUT: Final = 2.0
"""Seconds a round trip may take before the request is refused as unavailable."""
LEASE: Final = 2.0
"""Seconds a replica trusts the record it last read (at most a tenth of the idle timeout): the
requests of a busy session make no round trip at all. A session ended on another replica is
let go at once through the replica bus (:meth:`RedisSessionStore.forget`); only with the bus
down too could its record outlive its end here, and by this long at most."""


class SessionStoreUnavailable(Overloaded):
    """The shared session store cannot be reached: the client should retry shortly."""


async def _nobody_told(session_id: str) -> None:
    """Until the composition root wires the store to the session's end."""


class RedisSessionStore:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        idle_timeout: float,
        on_expired: Callable[[str], Awaitable[None]] = _nobody_told,
    ) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
        )
        self._prefix = prefix
        self._index = f"{prefix}sessions"
        self._idle_timeout = idle_timeout
        self._lifetime_ms = max(1, math.ceil(idle_timeout * 1000))
        self.on_expired = on_expired
        self._served: dict[str, float] = {}
        """Sessions this replica has served, and when it last renewed their place in the index:
        it ends what it holds of them when they expire."""
        self._index_every = idle_timeout / 10
        self._lease = min(LEASE, idle_timeout / 10)
        self._leased: dict[str, tuple[SessionRecord, float]] = {}
        self._down = False

    def _key(self, session_id: str) -> str:
        return f"{self._prefix}session:{session_id}"

    async def create(self, record: SessionRecord) -> None:
        body = orjson.dumps(asdict(record))
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self._key(record.id), body, px=self._lifetime_ms)
        pipe.zadd(self._index, {record.id: now})
        pipe.zremrangebyscore(self._index, "-inf", now - self._idle_timeout)  # ids Redis expired
        await self._run(pipe.execute())
        self._served[record.id] = now

    async def get(self, session_id: str) -> SessionRecord | None:
        """The record this replica read within the lease, else one command (``GETEX``, which
        renews its lifetime); the index (counts, operators' lists) is renewed with it, in the
        same round trip, a few times per idle timeout only."""
        now = time.time()
        leased = self._leased.get(session_id)
        if leased is not None and now - leased[1] < self._lease:
            leased[0].last_seen = now
            return leased[0]
        indexed = now - self._served.get(session_id, 0.0) > self._index_every
        if indexed:
            pipe = self._redis.pipeline(transaction=False)
            pipe.getex(self._key(session_id), px=self._lifetime_ms)
            pipe.zadd(self._index, {session_id: now}, xx=True)
            body, _ = await self._run(pipe.execute())
        else:
            body = await self._run(self._redis.getex(self._key(session_id), px=self._lifetime_ms))
        if body is None:
            self._leased.pop(session_id, None)
            if self._served.pop(session_id, None) is not None:  # expired before the janitor came
                await self.on_expired(session_id)
            return None
        record = _decode(body)
        if record is None:
            return None
        record.last_seen = now
        if indexed:
            self._served[session_id] = now
        self._leased[session_id] = (record, now)
        return record

    async def forget(self, session_id: str) -> None:
        """Drop this replica's copy of a session that ended (here or on another replica)."""
        self._leased.pop(session_id, None)

    async def delete(self, session_id: str) -> bool:
        self._served.pop(session_id, None)
        self._leased.pop(session_id, None)
        pipe = self._redis.pipeline(transaction=False)
        pipe.delete(self._key(session_id))
        pipe.zrem(self._index, session_id)
        deleted, _ = await self._run(pipe.execute())
        return bool(deleted)

    async def count(self) -> int:
        """Sessions used within the idle timeout, on every replica."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.zcount(self._index, time.time() - self._idle_timeout, "+inf")
        (counted,) = await self._run(pipe.execute())
        return int(counted)

    async def records(self) -> list[SessionRecord]:
        """Every live record, each with its last use (for operators: one scan of the index)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrangebyscore(self._index, time.time() - self._idle_timeout, "+inf", withscores=True)
        (scored,) = await self._run(pipe.execute())
        if not scored:
            return []
        ids = [raw.decode() for raw, _ in scored]
        pipe = self._redis.pipeline(transaction=False)
        pipe.mget([self._key(session_id) for session_id in ids])
        (bodies,) = await self._run(pipe.execute())
        return list(_with_last_use(bodies, (score for _, score in scored)))

    async def expire_idle(self) -> list[str]:
        """The sessions this replica served whose record has expired (Redis dropped it): the
        caller ends what this replica holds of them. Stale ids leave the index too."""
        now = time.time()
        self._leased = {key: held for key, held in self._leased.items() if now - held[1] < self._lease}
        served = sorted(self._served)
        pipe = self._redis.pipeline(transaction=False)
        pipe.zremrangebyscore(self._index, "-inf", time.time() - self._idle_timeout)
        for session_id in served:
            pipe.exists(self._key(session_id))
        _, *present = await self._run(pipe.execute())
        expired = [session_id for session_id, there in zip(served, present, strict=True) if not there]
        for session_id in expired:
            self._served.pop(session_id, None)
        return expired

    async def close(self) -> None:
        await self._redis.aclose()

    async def reachable(self) -> bool:
        """One ``PING`` (the readiness probe's, never a request's)."""
        try:
            await self._run(self._redis.ping())
        except SessionStoreUnavailable:
            return False
        return True

    async def _run(self, round_trip: Awaitable[Any]) -> Any:
        """One round trip; an unreachable Redis refuses the request (503), logged once."""
        try:
            results = await round_trip
        except (RedisError, OSError) as exc:
            if not self._down:
                self._down = True
                log.warning("session store unreachable (%s); requests needing a session are refused", exc)
            raise SessionStoreUnavailable(
                "Service Unavailable: the gateway's session store is unreachable; retry shortly"
            ) from None
        if self._down:
            self._down = False
            log.warning("session store reachable again")
        return results


def _decode(body: bytes) -> SessionRecord | None:
    try:
        fields = orjson.loads(body)
        return SessionRecord(**fields)
    except (orjson.JSONDecodeError, TypeError):
        log.warning("a session record in Redis is not one this gateway wrote; ignored")
        return None


def _with_last_use(bodies: Iterable[bytes | None], scores: Iterable[float]) -> Iterable[SessionRecord]:
    for body, score in zip(bodies, scores, strict=True):
        record = _decode(body) if body is not None else None
        if record is not None:
            record.last_seen = score
            yield record
