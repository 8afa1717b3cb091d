"""Tenancy stores (:class:`middleware.auth.keys.TenancyStore`): a SQLite file, Redis, memory.

SQLite is the default, in the state file beside the settings: ``portcullis keys ...`` on the
same machine writes it while the gateway polls it. Redis is for replicas: one hash of rows and
one counter, so each replica polls one small value a second and reloads only on a change.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from middleware.auth.keys import TenancyStore, TenancyStoreError

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS tenancy "
    "(kind TEXT NOT NULL, id TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (kind, id))",
    "CREATE TABLE IF NOT EXISTS tenancy_version (one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER)",
    "INSERT OR IGNORE INTO tenancy_version VALUES (1, 0)",
)
_BUMP: Final = "UPDATE tenancy_version SET version = version + 1"
_T = TypeVar("_T")


def safe_url(url: str) -> str:
    """A Redis URL fit to print: its password (in the authority or the query) masked."""
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1****", re.sub(r"//([^/@]*):[^/@]*@", r"//\1:****@", url))


def open_tenancy_store(location: str, prefix: str = "portcullis:") -> TenancyStore:
    """``memory``, a redis://, rediss:// or unix:// URL, or a SQLite file path."""
    if location == "memory":
        return MemoryTenancyStore()
    if "://" in location:
        return RedisTenancyStore(location, prefix + "tenancy:")
    return SqliteTenancyStore(location)


class SqliteTenancyStore:
    """Rows in one SQLite file (WAL), each change one transaction; calls run in a thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5)
            db.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                db.execute(statement)
            self._db = db
        return self._db

    def _version(self) -> int:
        with self._lock:
            row = self._connection().execute("SELECT version FROM tenancy_version").fetchone()
        return int(row[0]) if row else 0

    def _rows(self) -> tuple[int, list[tuple[str, str, bytes]]]:
        with self._lock:
            db = self._connection()
            db.execute("BEGIN")
            try:
                version = int(db.execute("SELECT version FROM tenancy_version").fetchone()[0])
                rows = [(k, i, bytes(v)) for k, i, v in db.execute("SELECT kind, id, value FROM tenancy")]
            finally:
                db.execute("COMMIT")
        return version, rows

    def _write(self, kind: str, ident: str, value: bytes | None, only_new: bool) -> bool:
        with self._lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                if value is None:
                    changed = db.execute(
                        "DELETE FROM tenancy WHERE kind = ? AND id = ?", (kind, ident)
                    ).rowcount
                else:
                    verb = "INSERT OR IGNORE" if only_new else "INSERT OR REPLACE"
                    changed = db.execute(
                        f"{verb} INTO tenancy (kind, id, value) VALUES (?, ?, ?)", (kind, ident, value)
                    ).rowcount
                if changed:
                    db.execute(_BUMP)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return bool(changed)

    async def _run(self, call: str, function: Callable[..., _T], *args: object) -> _T:
        try:
            return await asyncio.to_thread(function, *args)
        except sqlite3.Error as exc:
            raise TenancyStoreError(f"the tenancy store {self.where} failed to {call}: {exc}") from exc

    async def version(self) -> int:
        return await self._run("read its version", self._version)

    async def rows(self) -> tuple[int, list[tuple[str, str, bytes]]]:
        return await self._run("read", self._rows)

    async def write(self, kind: str, ident: str, value: bytes | None, *, only_new: bool = False) -> bool:
        return await self._run("write", self._write, kind, ident, value, only_new)

    async def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class RedisTenancyStore:
    """Rows in one Redis hash (field ``kind:id``) beside a version counter; a change and its
    bump go in one MULTI, and a read takes both in one, so a reload is never half a change."""

    def __init__(self, url: str, prefix: str) -> None:
        self.where = safe_url(url)
        self._redis = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._rows_key = prefix + "rows"
        self._version_key = prefix + "version"

    def _failed(self, call: str, exc: Exception) -> TenancyStoreError:
        return TenancyStoreError(f"the tenancy store {self.where} failed to {call}: {exc}")

    async def version(self) -> int:
        try:
            value = await self._redis.get(self._version_key)
        except (RedisError, OSError) as exc:
            raise self._failed("read its version", exc) from exc
        return int(value or 0)

    async def rows(self) -> tuple[int, list[tuple[str, str, bytes]]]:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(self._version_key)
                pipe.hgetall(self._rows_key)
                version, fields = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._failed("read", exc) from exc
        rows = []
        for name, value in fields.items():
            kind, _, ident = (name.decode() if isinstance(name, bytes) else name).partition(":")
            rows.append((kind, ident, value if isinstance(value, bytes) else value.encode()))
        return int(version or 0), rows

    async def write(self, kind: str, ident: str, value: bytes | None, *, only_new: bool = False) -> bool:
        name = f"{kind}:{ident}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                if value is None:
                    pipe.hdel(self._rows_key, name)
                elif only_new:
                    pipe.hsetnx(self._rows_key, name, value)
                else:
                    pipe.hset(self._rows_key, name, value)
                pipe.incr(self._version_key)
                changed, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._failed("write", exc) from exc
        return bool(changed) or (value is not None and not only_new)

    async def close(self) -> None:
        await self._redis.aclose()


class MemoryTenancyStore:
    """This process only (``[guardrails] store = "memory"``): for tests and throwaway runs."""

    where = "memory"

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], bytes] = {}
        self._version = 0

    async def version(self) -> int:
        return self._version

    async def rows(self) -> tuple[int, list[tuple[str, str, bytes]]]:
        return self._version, [(kind, ident, value) for (kind, ident), value in self._rows.items()]

    async def write(self, kind: str, ident: str, value: bytes | None, *, only_new: bool = False) -> bool:
        exists = (kind, ident) in self._rows
        if value is None:
            self._rows.pop((kind, ident), None)
        elif not (only_new and exists):
            self._rows[kind, ident] = value
        changed = exists if value is None else not (only_new and exists)
        self._version += changed
        return changed

    async def close(self) -> None:
        return None
