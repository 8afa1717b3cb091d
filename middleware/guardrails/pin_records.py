"""Definition pins as stored: what the gateway and ``portcullis pins`` both read and write.

One record per (kind, server, name): the approved definition and its digest, and the last
different definition seen (pending an operator's approval). Digests cover the whole definition
except its ``name`` (which differs between the aggregate and per-server endpoints) and ``_meta``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson

PREFIX = "pin:"


def digest(definition: dict[str, Any]) -> str:
    """A stable digest of a definition (keys sorted; name and _meta left out)."""
    body = {key: value for key, value in definition.items() if key not in ("name", "_meta")}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def key_of(kind: str, server: str, name: str) -> str:
    return f"{PREFIX}{kind}:{server}:{name}"


@dataclass
class PinRecord:
    kind: str
    server: str
    name: str
    approved: str | None = None
    approved_definition: dict[str, Any] | None = None
    approved_at: float | None = None
    pending: str | None = None
    pending_definition: dict[str, Any] | None = None
    pending_since: float | None = None
    revoked: bool = False

    @property
    def key(self) -> str:
        return key_of(self.kind, self.server, self.name)

    def dumps(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: bytes) -> PinRecord:
        return cls(**orjson.loads(raw))

    def approve(self) -> None:
        """The pending definition becomes the approved one (or the approved one is reinstated)."""
        if self.pending is not None:
            self.approved, self.approved_definition = self.pending, self.pending_definition
        self.pending = self.pending_definition = self.pending_since = None
        self.approved_at = time.time()
        self.revoked = False

    def state(self) -> str:
        if self.revoked:
            return "revoked"
        if self.pending is not None:
            return "changed" if self.approved is not None else "awaiting approval"
        return "approved"
