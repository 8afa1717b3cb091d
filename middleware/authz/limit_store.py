"""Where rate-limit counts live: the storage contract, and its in-memory implementation.

A call is admitted by every rule that applies to it or by none: a store checks all its buckets
and caps first and takes tokens and slots only when none refuses, so a refused call costs the
caller nothing. gateway/state/redis_limits.py implements the same contract on Redis, shared by
replicas, and falls back to a :class:`LocalLimits` while Redis is unreachable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from middleware.authz.concurrency import ConcurrencyCaps
from middleware.authz.limit_buckets import TokenBuckets
from middleware.authz.limit_rules import Limit

CAP_RETRY: Final = 1.0
"""Seconds a call refused by a concurrency cap is told to wait: when a slot frees is unknown."""

Wanted = Sequence[tuple[Limit, str]]
"""The rules that apply to a call, each with the key the call counts under."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call may not go now: the rule, and seconds until it could."""

    limit: Limit
    wait: float
    concurrent: bool = False
    """Refused by the concurrency cap (else by the token bucket)."""


@dataclass(frozen=True, slots=True)
class Slots:
    """The concurrency slots an admitted call holds until :meth:`LimitStore.release`."""

    held: Sequence[tuple[Limit, str]]
    token: str = ""
    """The store's own id of these slots (Redis: the member of each slot set)."""
    shared: bool = False
    """Taken in the shared store (else in this process)."""


class LimitStore(Protocol):
    """Token buckets and concurrency caps, in this process or shared by replicas."""

    async def acquire(self, wanted: Wanted) -> Refusal | Slots | None:
        """Admit the call (None, or the :class:`Slots` it holds) or refuse it, atomically."""
        ...

    async def release(self, slots: Slots) -> None:
        """Give back what :meth:`acquire` took; never raises, even when cancelled."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LocalLimits:
    """The counts of this process only: the default, and the fallback of a shared store."""

    __slots__ = ("_tables", "clock")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tables: dict[Limit, tuple[TokenBuckets | None, ConcurrencyCaps | None]] = {}

    def _tables_of(self, limit: Limit) -> tuple[TokenBuckets | None, ConcurrencyCaps | None]:
        found = self._tables.get(limit)
        if found is None:
            rate, cap = limit.rate, limit.max_concurrent
            found = self._tables[limit] = (
                TokenBuckets(rate, limit.burst, limit.max_keys) if rate is not None else None,
                ConcurrencyCaps(cap) if cap is not None else None,
            )
        return found

    def buckets(self, limit: Limit) -> TokenBuckets:
        found = self._tables_of(limit)[0]
        assert found is not None, f"{limit!r} has no token bucket"
        return found

    def caps(self, limit: Limit) -> ConcurrencyCaps:
        found = self._tables_of(limit)[1]
        assert found is not None, f"{limit!r} has no concurrency cap"
        return found

    async def acquire(self, wanted: Wanted) -> Refusal | Slots | None:
        return self.take(wanted)

    def take(self, wanted: Wanted) -> Refusal | Slots | None:
        """:meth:`acquire` without the coroutine: check every rule, then take from each."""
        refusal = self._refusal(wanted, self.clock())
        if refusal is not None:
            return refusal
        held: list[tuple[Limit, str]] | None = None
        for limit, key in wanted:
            buckets, caps = self._tables[limit]
            if buckets is not None:
                buckets.take(key)
            if caps is not None:
                caps.add(key)
                held = [(limit, key)] if held is None else [*held, (limit, key)]
        return None if held is None else Slots(held)

    def _refusal(self, wanted: Wanted, now: float) -> Refusal | None:
        """The refusal with the longest wait, if any rule refuses (a client told to retry
        then is not refused again at once by another rule)."""
        worst: Refusal | None = None
        for limit, key in wanted:
            buckets, caps = self._tables.get(limit) or self._tables_of(limit)
            if buckets is not None:
                wait = buckets.wait(key, now)
                if wait > 0.0 and (worst is None or wait > worst.wait):
                    worst = Refusal(limit, wait)
            if caps is not None and caps.full(key) and (worst is None or worst.wait < CAP_RETRY):
                worst = Refusal(limit, CAP_RETRY, concurrent=True)
        return worst

    async def release(self, slots: Slots) -> None:
        self.give_back(slots)

    def give_back(self, slots: Slots) -> None:
        for limit, key in slots.held:
            self.caps(limit).remove(key)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
