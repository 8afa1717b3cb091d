"""Where guardrails keep what must outlive a request and be shared by every replica: the PII
vault and the definition pins. Declared here, implemented by the composition root (a local
SQLite file by default, Redis when configured, memory in tests)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Protocol


class GuardrailStore(Protocol):
    """A small key-value store with expiry; each method is one round trip."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def scan(self, prefix: str) -> dict[str, bytes]: ...


class MemoryStore:
    """A process-local store (tests, and the ``memory`` setting): no expiry sweeps, bounded size."""

    def __init__(self, limit: int = 100_000) -> None:
        self._items: dict[str, tuple[bytes, float | None]] = {}
        self._limit = limit

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.monotonic()
        found: list[bytes | None] = []
        for key in keys:
            item = self._items.get(key)
            found.append(item[0] if item is not None and (item[1] is None or item[1] > now) else None)
        return found

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        expires = time.monotonic() + ttl if ttl is not None else None
        for key, value in items.items():
            if len(self._items) >= self._limit and key not in self._items:
                self._items.pop(next(iter(self._items)))
            self._items[key] = (value, expires)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def scan(self, prefix: str) -> dict[str, bytes]:
        found = await self.get_many([key for key in self._items if key.startswith(prefix)])
        keys = [key for key in self._items if key.startswith(prefix)]
        return {key: value for key, value in zip(keys, found, strict=True) if value is not None}
