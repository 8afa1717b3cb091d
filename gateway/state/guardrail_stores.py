"""The guardrail store (pins and the PII vault) on a local SQLite file or on Redis.

SQLite is the default: it survives restarts and ``portcullis pins`` on the same machine reads
and writes it while the gateway runs. Its calls run in a worker thread (never on the event loop);
each method is one transaction. Redis is for several replicas: one round trip per method.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from redis.asyncio import Redis

_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL)"


class SqliteStore:
    """A key-value table in one SQLite file (WAL, so the CLI and the gateway share it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def _get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.time()
        found: dict[str, bytes] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, value FROM kv WHERE key IN ({marks}) AND (expires IS NULL OR expires > ?)",
                    [*chunk, now],
                )
                found.update((key, bytes(value)) for key, value in rows)
        return [found.get(key) for key in keys]

    def _set_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        expires = time.time() + ttl if ttl is not None else None
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO kv (key, value, expires) VALUES (?, ?, ?)",
                [(key, value, expires) for key, value in items.items()],
            )
            self._db.execute("DELETE FROM kv WHERE expires IS NOT NULL AND expires < ?", (time.time(),))
            self._db.execute("COMMIT")

    def _delete(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM kv WHERE key = ?", (key,))

    def _scan(self, prefix: str) -> dict[str, bytes]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM kv WHERE substr(key, 1, ?) = ? AND (expires IS NULL OR expires > ?)",
                (len(prefix), prefix, time.time()),
            )
            return {key: bytes(value) for key, value in rows}

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return await asyncio.to_thread(self._get_many, keys)

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        if items:
            await asyncio.to_thread(self._set_many, items, ttl)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    async def scan(self, prefix: str) -> dict[str, bytes]:
        return await asyncio.to_thread(self._scan, prefix)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class RedisStore:
    """The same on Redis, under a key prefix, for replicas that must agree."""

    def __init__(self, url: str, prefix: str = "portcullis:guardrails:") -> None:
        self._redis = Redis.from_url(url)
        self._prefix = prefix

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        values = await self._redis.mget([self._prefix + key for key in keys])
        return [_raw(value) for value in values]

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        if not items:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, value in items.items():
                pipe.set(self._prefix + key, value, px=int(ttl * 1000) if ttl is not None else None)
            await pipe.execute()

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def scan(self, prefix: str) -> dict[str, bytes]:
        keys = [key async for key in self._redis.scan_iter(match=self._prefix + prefix + "*", count=500)]
        if not keys:
            return {}
        values = await self._redis.mget(keys)
        start = len(self._prefix)
        return {
            key.decode()[start:]: raw
            for key, value in zip(keys, values, strict=True)
            if (raw := _raw(value)) is not None
        }

    async def close(self) -> None:
        await self._redis.aclose()


def _raw(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value
