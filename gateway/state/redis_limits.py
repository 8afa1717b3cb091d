"""Rate limits shared by replicas on Redis: one script call admits or refuses a call.

The script takes Redis's own clock (replicas' clocks may differ), refills and checks every
bucket and cap of the call, and takes from each only when none refuses: one round trip per
call, whatever the number of rules. A concurrency slot is a member of a sorted set scored by
when its lease ends; the replica holding it renews the lease while the call runs, so the slots
of a replica that crashed come back when their lease ends.

While Redis is unreachable the limits are counted in this process (never opened up): one
warning says so when it goes, one line when it returns, and a background probe (not the calls)
finds out when it is back.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from typing import Final

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from gateway.state.stopping import stop
from middleware.authz.limit_rules import Limit
from middleware.authz.limit_store import CAP_RETRY, LocalLimits, Refusal, Slots, Wanted

log = logging.getLogger("portcullis.rate_limits")

OUTAGE: Final = "Redis unreachable: rate limits are local until it returns"
RECOVERY: Final = "Redis reachable again: rate limits are shared by the replicas again"
LEASE: Final = 30.0
"""Seconds a concurrency slot outlives a replica that stopped renewing it (crashed)."""
PROBE_EVERY: Final = 0.5
"""Seconds between checks whether an unreachable Redis is back."""
REFUSAL_QUIET: Final = 60.0
"""Seconds between two warnings that Redis refused the script (it is reachable: no outage)."""

# KEYS: the call's buckets, then its slot sets. ARGV: number of buckets, the slots' member, the
# lease (ms), then rate (tokens/s) and burst of each bucket, then the cap of each slot set.
# Returns {0} when admitted, else {index of the refusing key (1-based), wait in seconds}.
ACQUIRE: Final = """
local nb = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local lease = tonumber(ARGV[3]) / 1000
local worst, worst_wait, left = 0, 0, {}
for i = 1, nb do
  local rate, burst = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local tokens, stamp = burst, now
  local saved = redis.call('GET', KEYS[i])
  if saved then
    local a, b = string.match(saved, '(%S+) (%S+)')
    tokens, stamp = tonumber(a), tonumber(b)
  end
  tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
  left[i] = tokens
  if tokens < 1 and (1 - tokens) / rate > worst_wait then
    worst, worst_wait = i, (1 - tokens) / rate
  end
end
for j = nb + 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[j], '-inf', now)
  if redis.call('ZCARD', KEYS[j]) >= tonumber(ARGV[3 + 2 * nb + j - nb]) and worst_wait < CAP_RETRY then
    worst, worst_wait = j, CAP_RETRY
  end
end
if worst > 0 then return {worst, tostring(worst_wait)} end
for i = 1, nb do
  local rate, burst = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local ttl = math.ceil(burst / rate * 1000) + 1000
  redis.call('SET', KEYS[i], string.format('%.6f %.6f', left[i] - 1, now), 'PX', ttl)
end
for j = nb + 1, #KEYS do
  redis.call('ZADD', KEYS[j], now + lease, ARGV[2])
  redis.call('PEXPIRE', KEYS[j], math.ceil(lease * 2000))
end
return {0}
""".replace("CAP_RETRY", repr(CAP_RETRY))

# KEYS: slot sets; ARGV: the lease (ms), then the member held in each set. Extends the lease
# of members still there (one that expired meanwhile is not brought back).
RENEW: Final = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1]) / 1000
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', until_, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], math.ceil(tonumber(ARGV[1]) * 2))
end
return #KEYS
"""


class RedisLimits:
    """The :class:`~middleware.authz.limit_store.LimitStore` replicas share."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "portcullis:",
        local: LocalLimits | None = None,
        lease: float = LEASE,
        probe_every: float = PROBE_EVERY,
    ) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 1)
        )
        self._acquire = self._redis.register_script(ACQUIRE)
        self._renew = self._redis.register_script(RENEW)
        self.local = local or LocalLimits()
        self.prefix = prefix + "ratelimit:"
        self.lease = lease
        self.probe_every = probe_every
        self.down = False
        self._member = f"{secrets.token_hex(6)}:"
        self._counter = itertools.count()
        self._held: dict[str, list[str]] = {}
        """Slot member → the sets it is in, for the renewals."""
        self._args: dict[str, tuple[str, str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._renewer: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._quiet_until = 0.0

    async def acquire(self, wanted: Wanted) -> Refusal | Slots | None:
        if self.down:
            return self.local.take(wanted)
        keys, args, caps = self._script_input(wanted)
        member = f"{self._member}{next(self._counter)}" if caps else ""
        try:
            reply = await self._acquire(keys=keys, args=[str(len(keys) - len(caps)), member, *args])
        except ResponseError as exc:  # reachable, but it refused (out of memory, a key of another type)
            self._refused(exc)
            return self.local.take(wanted)
        except (RedisError, OSError) as exc:
            self._lost(exc)
            return self.local.take(wanted)
        if int(reply[0]) != 0:
            return self._refusal(wanted, keys, int(reply[0]), float(reply[1]), len(caps))
        if not caps:
            return None
        self._held[member] = keys[len(keys) - len(caps) :]
        return Slots(caps, token=member, shared=True)

    def _script_input(self, wanted: Wanted) -> tuple[list[str], list[str], list[tuple[Limit, str]]]:
        """The script's keys and arguments for ``wanted``, and the caps among them."""
        bucket_keys: list[str] = []
        slot_keys: list[str] = []
        bucket_args: list[str] = []
        slot_args: list[str] = []
        caps: list[tuple[Limit, str]] = []
        for limit, key in wanted:
            if limit.rate is not None:
                bucket_keys.append(f"{self.prefix}bucket:{limit.name}:{key}")
                bucket_args.extend(self._bucket_args(limit))
            if limit.max_concurrent is not None:
                slot_keys.append(f"{self.prefix}slots:{limit.name}:{key}")
                slot_args.append(str(limit.max_concurrent))
                caps.append((limit, key))
        lease_ms = str(round(self.lease * 1000))
        return [*bucket_keys, *slot_keys], [lease_ms, *bucket_args, *slot_args], caps

    def _bucket_args(self, limit: Limit) -> tuple[str, str]:
        found = self._args.get(limit.name)
        if found is None:
            found = self._args[limit.name] = (repr(limit.rate), str(limit.burst))
        return found

    @staticmethod
    def _refusal(wanted: Wanted, keys: list[str], index: int, wait: float, caps: int) -> Refusal:
        """The rule behind the script's refusing key (``index``, 1-based)."""
        buckets = [(limit, key) for limit, key in wanted if limit.rate is not None]
        if index <= len(keys) - caps:
            return Refusal(buckets[index - 1][0], wait)
        slots = [(limit, key) for limit, key in wanted if limit.max_concurrent is not None]
        return Refusal(slots[index - 1 - len(buckets)][0], wait, concurrent=True)

    async def release(self, slots: Slots) -> None:
        if not slots.shared:
            self.local.give_back(slots)
            return
        keys = self._held.pop(slots.token, None)
        if keys is None or self.down:
            return  # the lease gives them back
        task = asyncio.create_task(self._remove(keys, slots.token))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.shield(task)  # a cancelled call still gives its slots back

    async def _remove(self, keys: list[str], member: str) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zrem(key, member)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.debug("could not give back a concurrency slot (its lease will): %s", type(exc).__name__)

    def _refused(self, exc: ResponseError) -> None:
        """Redis answered with an error: count this call locally, and say so now and then."""
        now = time.monotonic()
        if now >= self._quiet_until:
            self._quiet_until = now + REFUSAL_QUIET
            log.warning("Redis refused a rate-limit script (%s): such calls are counted locally", exc)

    def _lost(self, exc: BaseException) -> None:
        """Redis failed a call: count locally, say so once, and watch for its return."""
        if self.down:
            return
        self.down = True
        log.warning("%s (%s)", OUTAGE, type(exc).__name__)
        self._probe = asyncio.create_task(self._wait_for_return(), name="rate-limits-redis-probe")

    async def _wait_for_return(self) -> None:
        while True:
            await asyncio.sleep(self.probe_every)
            try:
                await self._redis.ping()
            except (RedisError, OSError):
                continue
            self.down = False
            log.info(RECOVERY)
            return

    async def _renew_leases(self) -> None:
        """Keep the slots of the calls running here alive, a third of a lease at a time."""
        while True:
            await asyncio.sleep(self.lease / 3)
            if self.down or not self._held:
                continue
            keys = [key for sets in self._held.values() for key in sets]
            members = [member for member, sets in self._held.items() for _ in sets]
            try:
                await self._renew(keys=keys, args=[str(round(self.lease * 1000)), *members])
            except ResponseError as exc:
                self._refused(exc)
            except (RedisError, OSError) as exc:
                self._lost(exc)

    async def start(self) -> None:
        try:
            await self._redis.ping()
        except (RedisError, OSError) as exc:
            self._lost(exc)
        self._renewer = asyncio.create_task(self._renew_leases(), name="rate-limits-leases")

    async def close(self) -> None:
        for task in (self._renewer, self._probe, *self._tasks):
            await stop(task)
        await self._redis.aclose()
