"""Where cached answers live: the storage contract, and its in-memory (LRU) implementation.

Entries are grouped so that one upstream event drops them all at once: every read of one
resource URI is one group (``resources/updated``), every tool result of one server is another
(``tools/list_changed``). Values are the encoded result, so a hit costs one ``orjson.loads``
and nothing above the cache can change what is kept. gateway/state/redis_cache.py implements
the same contract on Redis, shared by replicas, in one round trip per lookup.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

Hit = tuple[bytes, float]
"""A cached value and the seconds it stays fresh."""


class ResultStore(Protocol):
    async def get(self, group: str, fields: Sequence[str]) -> Hit | None:
        """The first of ``fields`` in ``group`` that is still fresh, if any."""

    async def put(self, group: str, field: str, value: bytes, ttl: float) -> None: ...

    async def drop(self, group: str) -> None:
        """Forget every entry of ``group``."""

    async def clear(self, server: str | None = None) -> int:
        """Forget every entry (of ``server``'s groups only, if given); how many went."""

    async def close(self) -> None: ...


def read_group(server: str, uri: str) -> str:
    return f"read\x00{server}\x00{uri}"


def tools_group(server: str) -> str:
    return f"tools\x00{server}"


def server_of(group: str) -> str:
    """The server a group belongs to (its second part)."""
    return group.split("\x00", 2)[1]


@dataclass(slots=True)
class CacheCounts:
    """Hits, misses and stores per method, for metrics (read them, never reset them)."""

    hits: dict[str, int] = field(default_factory=dict)
    misses: dict[str, int] = field(default_factory=dict)
    stores: dict[str, int] = field(default_factory=dict)

    def count(self, table: dict[str, int], method: str) -> None:
        table[method] = table.get(method, 0) + 1


class MemoryResultStore:
    """Least recently used entries go first once ``max_entries`` or ``max_bytes`` is passed."""

    def __init__(
        self, *, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_entries, self._max_bytes = max_entries, max_bytes
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()
        self._groups: dict[str, set[str]] = {}
        self.bytes = 0

    async def get(self, group: str, fields: Sequence[str]) -> Hit | None:
        now = self._clock()
        for name in fields:
            entry = self._entries.get((group, name))
            if entry is None:
                continue
            if entry[0] <= now:
                self._remove((group, name))
                continue
            self._entries.move_to_end((group, name))
            return entry[1], entry[0] - now
        return None

    async def put(self, group: str, field: str, value: bytes, ttl: float) -> None:
        key = (group, field)
        if key in self._entries:
            self._remove(key)
        self._entries[key] = (self._clock() + ttl, value)
        self._groups.setdefault(group, set()).add(field)
        self.bytes += len(value)
        while self._entries and (len(self._entries) > self._max_entries or self.bytes > self._max_bytes):
            self._remove(next(iter(self._entries)))

    async def drop(self, group: str) -> None:
        for name in list(self._groups.get(group, ())):
            self._remove((group, name))

    async def clear(self, server: str | None = None) -> int:
        groups = [g for g in self._groups if server is None or server_of(g) == server]
        before = len(self._entries)
        for group in groups:
            await self.drop(group)
        return before - len(self._entries)

    async def close(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._entries)

    def _remove(self, key: tuple[str, str]) -> None:
        _, value = self._entries.pop(key)
        self.bytes -= len(value)
        fields = self._groups.get(key[0])
        if fields is not None:
            fields.discard(key[1])
            if not fields:
                del self._groups[key[0]]
