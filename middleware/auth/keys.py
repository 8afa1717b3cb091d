"""API keys of tenants: the records a tenancy store keeps, the store's contract, and the
authenticator of the hot path.

A key is ``pcs_`` + 256 random bits, shown once when made; only its SHA-256 is kept. The
authenticator answers from an in-memory table (digest -> principal, expiry, refusal) that the
gateway replaces whole when the store changes, so a request costs one hash and one dict lookup.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Protocol

import orjson

from middleware.auth.api_key import hash_key, presented_key
from middleware.auth.chain import AuthRefused
from middleware.protocol import Principal
from middleware.protocol.http import ASGIScope

KEY_PREFIX: Final = "pcs_"
SHOWN_PREFIX: Final = 8
"""Characters of a key kept to recognise it in lists (``pcs_`` and 24 of its 256 random bits)."""


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(6)


# --- records ----------------------------------------------------------------------------------


@dataclass(slots=True)
class ProjectRecord:
    name: str
    servers: tuple[str, ...] = ("*",)
    description: str = ""
    created: float | None = None


@dataclass(slots=True)
class UserRecord:
    name: str
    project: str | None = None
    roles: tuple[str, ...] = ()
    email: str | None = None
    disabled: bool = False
    created: float | None = None


@dataclass(slots=True)
class KeyRecord:
    id: str
    user: str
    name: str
    sha256: str
    prefix: str = ""
    created: float | None = None
    expires: float | None = None
    disabled: bool = False
    revoked: bool = False
    replaced_by: str | None = None
    """The key a rotation made; this one works until ``expires`` (the grace period's end)."""


@dataclass(slots=True)
class Restriction:
    """What the store adds to a user or key declared in settings: it can only take access
    away (disable, revoke, an earlier expiry), so a leaked key dies without a redeploy."""

    target: str
    """``user:NAME`` or ``key:ID``."""
    disabled: bool = False
    revoked: bool = False
    expires: float | None = None
    replaced_by: str | None = None


Record = ProjectRecord | UserRecord | KeyRecord | Restriction
KINDS: Final[dict[str, type[Record]]] = {
    "project": ProjectRecord,
    "user": UserRecord,
    "key": KeyRecord,
    "restriction": Restriction,
}


def record_id(record: Record) -> tuple[str, str]:
    """(kind, id) of a record in the store."""
    if isinstance(record, ProjectRecord):
        return "project", record.name
    if isinstance(record, UserRecord):
        return "user", record.name
    if isinstance(record, KeyRecord):
        return "key", record.id
    return "restriction", record.target


def encode(record: Record) -> bytes:
    return orjson.dumps(asdict(record))


def decode(kind: str, raw: bytes) -> Record:
    fields: dict[str, Any] = orjson.loads(raw)
    cls = KINDS[kind]
    for name in ("servers", "roles"):
        if name in fields:
            fields[name] = tuple(fields[name])
    known = cls.__dataclass_fields__
    return cls(**{k: v for k, v in fields.items() if k in known})


@dataclass(slots=True)
class Stored:
    """Everything a tenancy store holds, at one version."""

    version: int = 0
    projects: dict[str, ProjectRecord] = field(default_factory=dict)
    users: dict[str, UserRecord] = field(default_factory=dict)
    keys: dict[str, KeyRecord] = field(default_factory=dict)
    restrictions: dict[str, Restriction] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, version: int, rows: Iterable[tuple[str, str, bytes]]) -> Stored:
        stored = cls(version)
        tables: dict[str, dict[str, Any]] = {
            "project": stored.projects,
            "user": stored.users,
            "key": stored.keys,
            "restriction": stored.restrictions,
        }
        for kind, ident, raw in rows:
            if kind in tables:  # a kind of a newer version: not ours to read
                tables[kind][ident] = decode(kind, raw)
        return stored


# --- the store's contract ---------------------------------------------------------------------


class TenancyStoreError(Exception):
    """The store cannot be reached or read; the message names the store, never a secret."""


class TenancyStore(Protocol):
    """Rows of (kind, id, encoded record) and a version that every change bumps, so that
    replicas poll one small value and reload only when something changed."""

    where: str
    """The store for people: a file path or a Redis URL without its password."""

    async def version(self) -> int: ...

    async def rows(self) -> tuple[int, list[tuple[str, str, bytes]]]:
        """Every row and the version they are at, read together."""
        ...

    async def write(self, kind: str, ident: str, value: bytes | None, *, only_new: bool = False) -> bool:
        """Set (or with None delete) one row and bump the version. False when ``only_new`` and
        the row exists, or when deleting a row that does not."""
        ...

    async def close(self) -> None: ...


async def load(store: TenancyStore) -> Stored:
    version, rows = await store.rows()
    return Stored.from_rows(version, rows)


async def save(store: TenancyStore, record: Record, *, only_new: bool = False) -> bool:
    kind, ident = record_id(record)
    return await store.write(kind, ident, encode(record), only_new=only_new)


async def forget(store: TenancyStore, kind: str, ident: str) -> bool:
    return await store.write(kind, ident, None)


# --- the hot path -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """What one key digest opens: its principal, until when, or why it is refused."""

    principal: Principal
    expires: float | None = None
    refusal: str | None = None


class KeyAuthenticator:
    """An :class:`~middleware.auth.chain.Authenticator` over a table of key digests.

    An unknown key is not ours (None: the next authenticator is asked); a known one that is
    revoked, disabled or expired is refused (:class:`AuthRefused`), so the chain fails closed.
    """

    name = "api_keys"

    def __init__(self, table: Mapping[str, KeyEntry], *, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self._clock = clock

    def replace(self, table: Mapping[str, KeyEntry]) -> None:
        """Swap the whole table at once: a request sees the old one or the new one."""
        self.table = table

    async def authenticate(self, scope: ASGIScope) -> Principal | None:
        key = presented_key(scope)
        if not key:
            return None
        entry = self.table.get(hash_key(key))
        if entry is None:
            return None
        if entry.refusal is not None:
            raise AuthRefused(entry.refusal)
        if entry.expires is not None and self._clock() >= entry.expires:
            raise AuthRefused("the API key has expired; ask for a new one")
        return entry.principal
