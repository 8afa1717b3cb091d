"""The SSE event store on Redis (:class:`~gateway.front.events.EventStore`), so that a client whose
stream was on one replica resumes it with ``Last-Event-ID`` on another (DESIGN.md, "Sessions and
scale").

Each stream is a Redis stream ``<prefix>events:{<session>}:s:<stream>``; beside it, per session, a
zset of its streams (oldest first) and a hash of the bytes each keeps (field ``""``: the total).
An append is one round trip: a script that adds the event and keeps the bounds of
:class:`~gateway.state.memory.InMemoryEventStore` exactly (events per stream, streams per session,
bytes per session: the session's oldest events go first), atomically whichever replica appends.
Every key lives ``idle_timeout`` after the last append to it, and :meth:`forget` deletes them all.
The session id is a hash tag, so a session's keys share one cluster slot.

Event ids are ``<stream>.<seq>`` with ``seq = ms * 10**10 + n`` from the Redis entry id
``<ms>-<n>``, which the script picks above the last one the session gave (kept in the bytes hash):
increasing per stream, and never reused, even when a stream expired or was evicted and is written
again within the same millisecond (a counter would start over and a resumed stream would skip the
new events).

:meth:`wait` blocks in ``XREAD`` on a connection of its own (at most ``max_waiters`` at once; any
more sleep their patience), from the last event :meth:`after` gave the same task, so an event
appended in between wakes it at once; an append on any replica wakes it.

Redis unreachable: one warning per outage, one line when it is back, and Redis is tried again at
most every ``retry_after`` seconds, so a stream never stalls on it. Meanwhile a stream still
delivers every message live (with an id), but what is sent then is not kept: a client that
reconnects cannot resume (:meth:`after` is None: the front refuses to resume a request stream, and
opens a GET stream without replay), and waiting sleeps its patience.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from contextvars import ContextVar
from typing import Any, Final

import orjson
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.front.events import Message, Replayed

log = logging.getLogger("portcullis.events")

SOCKET_TIMEOUT: Final = 2.0
"""Seconds a round trip may take before Redis counts as unreachable."""
SEQ_FACTOR: Final = 10**10
"""``seq = ms * SEQ_FACTOR + n``: ``n`` (entries of one stream in one millisecond) stays below it."""
_MAX_MS: Final = 2**64 - 1

_APPEND: Final = """
local idx, sizes, key = KEYS[1], KEYS[2], KEYS[3]
local stream, data, size, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local max_events, max_streams, budget = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local base = ARGV[8]

local function account(name, delta)
  redis.call('HINCRBY', sizes, name, delta)
  return redis.call('HINCRBY', sizes, '', delta)
end

local function reset(name)  -- a stream with no event keeps no byte (it may have expired)
  local kept = tonumber(redis.call('HGET', sizes, name) or 0)
  if kept ~= 0 then account(name, -kept) end
  return kept
end

local function evict(name)
  reset(name)
  redis.call('HDEL', sizes, name)
  redis.call('ZREM', idx, name)
  redis.call('DEL', base .. name)
end

-- Drop up to `count` oldest events of `name`, stopping once `total` fits `budget`; bytes freed.
local function drop(name, count, total, limit)
  local freed, ids = 0, {}
  for _, entry in ipairs(redis.call('XRANGE', base .. name, '-', '+', 'COUNT', count)) do
    if total - freed <= limit then break end
    ids[#ids + 1] = entry[1]
    freed = freed + tonumber(entry[2][2])
  end
  if #ids > 0 then redis.call('XDEL', base .. name, unpack(ids)) end
  if freed > 0 then account(name, -freed) end  -- never '-0': Redis reads no integer in it
  return freed
end

-- Over the budget: the oldest events of the oldest streams go; the event just kept stays.
local function shrink(total)
  for _, name in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
    local len = redis.call('XLEN', base .. name)
    if len == 0 then total = total - reset(name) end
    local floor, count = (name == stream) and 1 or 0, 1
    while len > floor and total > budget do  -- usually one event: fetch few, then more
      count = math.min(len - floor, count)
      total = total - drop(name, count, total, budget)
      len, count = len - count, math.min(count * 2, 64)
    end
    if total <= budget then return end
  end
end

local now = redis.call('TIME')
if redis.call('ZADD', idx, 'NX', now[1] .. string.format('%06d', now[2]), stream) == 1 then
  local over = redis.call('ZCARD', idx) - max_streams
  if over > 0 then
    for _, old in ipairs(redis.call('ZRANGE', idx, 0, over - 1)) do
      if old ~= stream then evict(old) end
    end
  end
end
local len = redis.call('XLEN', key)
if len == 0 then reset(stream) end
if len >= max_events then drop(stream, len - max_events + 1, 0, -math.huge) end
-- Ids increase across the session (field '#': the last given), so a stream written again after it
-- expired or went never repeats an id, even within the millisecond it went.
local ms = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
local last_ms, last_n = string.match(redis.call('HGET', sizes, '#') or '', '^(%d+)-(%d+)$')
local next_id = ms .. '-0'
if last_ms and tonumber(ms) <= tonumber(last_ms) then
  next_id = last_ms .. '-' .. string.format('%d', tonumber(last_n) + 1)
end
local id = redis.call('XADD', key, next_id, 'n', size, 'm', data)
redis.call('HSET', sizes, '#', id)
local total = account(stream, size)
if total > budget then shrink(total) end
redis.call('PEXPIRE', idx, ttl)
redis.call('PEXPIRE', sizes, ttl)
redis.call('PEXPIRE', key, ttl)
return id
"""

_FORGET: Final = """
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do redis.call('DEL', ARGV[1] .. name) end
return redis.call('DEL', KEYS[1], KEYS[2])
"""

_CURSOR: ContextVar[tuple[str, str, str] | None] = ContextVar("portcullis_event_cursor", default=None)
"""(session, stream, Redis id) of the last event :meth:`RedisEventStore.after` gave this task:
where its next :meth:`~RedisEventStore.wait` starts, so nothing appended in between is missed."""


class RedisEventStore:
    """Events of resumable SSE streams in Redis, shared by every replica (see the module)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        idle_timeout: float,
        events_per_stream: int = 1000,
        streams_per_session: int = 64,
        bytes_per_session: int = 4 * 1024 * 1024,
        max_waiters: int = 64,
        retry_after: float = 1.0,
    ) -> None:
        retry = Retry(NoBackoff(), 1)  # one at once: a connection Redis closed since its last use
        self._redis = redis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT, retry=retry
        )
        # Blocking reads hold their connection for a whole wait: a pool of their own, so that
        # appends and replays never queue behind them. Their deadline is the wait's, so no socket
        # timeout (redis-py's default of 5 s would cut a longer patience short).
        self._blocking = redis.Redis.from_url(
            url,
            socket_timeout=None,
            socket_connect_timeout=SOCKET_TIMEOUT,
            max_connections=max_waiters,
            retry=retry,
        )
        self._append = self._redis.register_script(_APPEND)
        self._forget = self._redis.register_script(_FORGET)
        self._prefix = prefix
        self._lifetime_ms = max(1, math.ceil(idle_timeout * 1000))
        self._bounds = (max(1, events_per_stream), max(1, streams_per_session), bytes_per_session)
        self._waiters = asyncio.Semaphore(max_waiters)
        self._retry_after = retry_after
        self._down = False
        self._retry_at = 0.0
        self._local = itertools.count()

    def _base(self, session_id: str) -> str:
        return f"{self._prefix}events:{{{session_id}}}:"

    def _stream_key(self, session_id: str, stream_id: str) -> str:
        return f"{self._base(session_id)}s:{stream_id}"

    async def append(self, session_id: str, stream_id: str, message: Message | None) -> str:
        data = orjson.dumps(message) if message is not None else b""
        if self._available():
            base = self._base(session_id)
            keys = [f"{base}streams", f"{base}bytes", f"{base}s:{stream_id}"]
            args: list[str | bytes | int] = [
                stream_id,
                data,
                len(data),
                self._lifetime_ms,
                *self._bounds,
                f"{base}s:",
            ]
            try:
                entry_id = await self._append(keys=keys, args=args)
            except (RedisError, OSError) as exc:
                self._failed(exc)
            else:
                self._recovered()
                return f"{stream_id}.{_seq(entry_id)}"
        # Not kept: the event still goes out live, with an id of the same form (this host's clock).
        return f"{stream_id}.{int(time.time() * 1000) * SEQ_FACTOR + next(self._local) % SEQ_FACTOR}"

    async def after(self, session_id: str, stream_id: str, seq: int) -> Replayed | None:
        if not self._available():
            return None
        key = self._stream_key(session_id, stream_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.exists(key)
        pipe.xrange(key, "-" if seq < 0 else f"({_entry_id(seq)}", "+")
        try:
            exists, entries = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None
        self._recovered()
        last = entries[-1][0].decode() if entries else _entry_id(max(seq, 0))
        _CURSOR.set((session_id, stream_id, last))
        if not exists:
            return None
        return [(f"{stream_id}.{_seq(entry_id)}", _message(fields)) for entry_id, fields in entries]

    async def wait(self, session_id: str, stream_id: str, patience: float) -> None:
        if not self._available() or self._waiters.locked():
            await asyncio.sleep(patience)
            return
        cursor = _CURSOR.get()
        start = cursor[2] if cursor is not None and cursor[:2] == (session_id, stream_id) else "$"
        key = self._stream_key(session_id, stream_id)
        began = time.monotonic()
        try:
            async with self._waiters:
                block_ms = max(1, math.ceil(patience * 1000))
                read = self._blocking.xread({key: start}, count=1, block=block_ms)
                await asyncio.wait_for(read, patience + SOCKET_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            await asyncio.sleep(max(0.0, patience - (time.monotonic() - began)))
        else:
            self._recovered()

    async def forget(self, session_id: str) -> None:
        base = self._base(session_id)
        try:
            await self._forget(keys=[f"{base}streams", f"{base}bytes"], args=[f"{base}s:"])
        except (RedisError, OSError) as exc:
            self._failed(exc)  # what is left expires after the idle timeout
        else:
            self._recovered()

    async def kept_bytes(self, session_id: str) -> int:
        """Bytes of events kept for a session (for tests and metrics)."""
        kept = await self._redis.hget(f"{self._base(session_id)}bytes", "")
        return int(kept or 0)

    async def close(self) -> None:
        await self._redis.aclose()
        await self._blocking.aclose()

    def _available(self) -> bool:
        """Whether to ask Redis: always, except within ``retry_after`` of a failure."""
        return not self._down or time.monotonic() >= self._retry_at

    def _failed(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + self._retry_after
        if not self._down:
            self._down = True
            log.warning(
                "event store unreachable (%s); SSE streams are delivered live but cannot be resumed",
                str(exc) or type(exc).__name__,
            )

    def _recovered(self) -> None:
        if self._down:
            self._down = False
            log.warning("event store reachable again")


def _seq(entry_id: bytes) -> int:
    ms, _, n = entry_id.partition(b"-")
    return int(ms) * SEQ_FACTOR + int(n)


def _entry_id(seq: int) -> str:
    """The Redis entry id of ``seq`` (one past every entry if ``seq`` is larger than any)."""
    ms, n = divmod(seq, SEQ_FACTOR)
    return f"{min(ms, _MAX_MS)}-{n}"


def _message(fields: dict[bytes, bytes]) -> Message | None:
    data = fields.get(b"m")
    if not data:
        return None  # a priming event
    message: Any = orjson.loads(data)
    return message if isinstance(message, dict) else None
