"""Token buckets in this process: one small list per key, a bounded number of keys.

A bucket that has refilled to the brim is the same as no bucket, so when the table is full those
go first; only if too few are idle do the oldest keys go (their next call finds a full bucket).
Each sweep frees a tenth of the table, so its cost spread over the insertions is constant.
"""

from __future__ import annotations

from itertools import islice


class TokenBuckets:
    """The buckets of one rule: ``rate`` tokens per second into buckets of ``burst``.

    Entries are ``[tokens, stamp]``: the tokens left at ``stamp`` (the caller's clock)."""

    __slots__ = ("_buckets", "burst", "max_keys", "rate")

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: dict[str, list[float]] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` has a token (0.0: it has one now). Refills the bucket to
        ``now`` but takes nothing: :meth:`take` does, once every rule of the call agreed."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict(now)
            self._buckets[key] = [self.burst, now]
            return 0.0
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        bucket[0] = tokens if tokens < self.burst else self.burst
        bucket[1] = now
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def take(self, key: str) -> None:
        """Take the token :meth:`wait` just said is there."""
        self._buckets[key][0] -= 1.0

    def _evict(self, now: float) -> None:
        rate, burst = self.rate, self.burst
        full = [
            key for key, (tokens, stamp) in self._buckets.items() if tokens + (now - stamp) * rate >= burst
        ]
        for key in full:
            del self._buckets[key]
        keep = self.max_keys * 9 // 10
        if len(self._buckets) > keep:
            for key in list(islice(self._buckets, len(self._buckets) - keep)):
                del self._buckets[key]
