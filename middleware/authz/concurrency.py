"""Concurrency caps in this process: a count of calls in flight per key.

The table holds only keys with a call in flight (a key whose count falls to zero is removed),
so it is bounded by the calls in flight and needs no eviction.
"""

from __future__ import annotations


class ConcurrencyCaps:
    """The caps of one rule: at most ``max_concurrent`` calls in flight per key."""

    __slots__ = ("_counts", "max_concurrent")

    def __init__(self, max_concurrent: int) -> None:
        self.max_concurrent = max_concurrent
        self._counts: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._counts)

    def in_flight(self, key: str) -> int:
        return self._counts.get(key, 0)

    def full(self, key: str) -> bool:
        return self._counts.get(key, 0) >= self.max_concurrent

    def add(self, key: str) -> None:
        self._counts[key] = self._counts.get(key, 0) + 1

    def remove(self, key: str) -> None:
        count = self._counts.get(key, 0) - 1
        if count > 0:
            self._counts[key] = count
        else:
            self._counts.pop(key, None)
