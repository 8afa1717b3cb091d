"""Gateway-owned pagination over merged lists.

A cursor names a version of the merged list (see :attr:`Catalog.version`) and an offset, so the
later pages of a walk are consistent with its first even if an upstream changes meanwhile. Every
walk of one version shares ONE snapshot: the current version's items are the catalog's own
(keeping them costs a list of references), and a superseded version is kept only while its
cursors may still be followed, within a byte budget and an age. A cursor whose snapshot has gone
is refused; the client lists again from the start, as the spec lets a server ask.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

DEFAULT_MAX_BYTES: Final = 64 * 1024 * 1024
DEFAULT_MAX_AGE: Final = 300.0
EXPIRED: Final = "the list changed or the cursor expired: list again from the start"


class InvalidCursor(ValueError):
    """The cursor was not issued by this gateway for this list."""


@dataclass(frozen=True, slots=True)
class SnapshotLimits:
    """How much memory superseded snapshots of one list may hold, and for how long."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_age: float = DEFAULT_MAX_AGE


@dataclass(frozen=True, slots=True)
class Position:
    epoch: str
    version: int
    offset: int


@dataclass(slots=True)
class _Snapshot:
    items: Sequence[dict[str, Any]]
    served: float
    """When a walk of it last started: a superseded snapshot lives ``max_age`` past that."""
    size: int = field(default=0)
    """Its serialised size, measured once it is superseded (the current one costs nothing)."""


class Pages:
    def __init__(
        self,
        list_name: str,
        page_size: int,
        limits: SnapshotLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = list_name
        self._page_size = page_size
        self._limits = limits or SnapshotLimits()
        self._clock = clock
        self._epoch = secrets.token_hex(4)
        """Versions restart with the process: a cursor of another process never matches."""
        self._current: tuple[int, _Snapshot] | None = None
        self._retired: OrderedDict[int, _Snapshot] = OrderedDict()
        self._retired_bytes = 0

    def decode(self, cursor: object) -> Position:
        if not isinstance(cursor, str):
            raise InvalidCursor("the cursor must be a string from a previous nextCursor")
        try:
            name, epoch, version, offset = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
            position = Position(epoch, int(version), int(offset))
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise InvalidCursor("the cursor is not one this gateway issued") from None
        if name != self._name or position.offset < 0:
            raise InvalidCursor(f"the cursor was not issued for {self._name}")
        return position

    def snapshot(self, position: Position) -> Sequence[dict[str, Any]] | None:
        """The list ``position`` walks, or None when it has gone (or came from elsewhere)."""
        if position.epoch != self._epoch:
            return None
        self._prune()
        if self._current is not None and self._current[0] == position.version:
            return self._current[1].items
        retired = self._retired.get(position.version)
        return retired.items if retired is not None else None

    def publish(self, version: int, items: Sequence[dict[str, Any]]) -> None:
        """A walk starts over ``version``: it becomes current, the previous one is retired."""
        now = self._clock()
        current = self._current
        if current is not None and current[0] == version:
            current[1].served = now
            return
        if current is not None:
            self._retire(*current)
        self._current = (version, _Snapshot(items, now))
        self._prune()

    def page(
        self, items: Sequence[dict[str, Any]], version: int, offset: int = 0
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``items`` (version ``version``), and the next page's cursor if any."""
        end = offset + self._page_size
        if end >= len(items):
            return list(items[offset:]), None
        token = f"{self._name}:{self._epoch}:{version}:{end}".encode()
        return list(items[offset:end]), base64.urlsafe_b64encode(token).decode()

    @property
    def kept_bytes(self) -> int:
        """What superseded snapshots hold (for tests and health)."""
        return self._retired_bytes

    def _retire(self, version: int, snapshot: _Snapshot) -> None:
        snapshot.size = len(orjson.dumps(list(snapshot.items)))
        self._retired[version] = snapshot
        self._retired_bytes += snapshot.size

    def _prune(self) -> None:
        """Drop superseded snapshots past their age, then the oldest until within budget."""
        limits = self._limits
        cutoff = self._clock() - limits.max_age
        while self._retired:
            version, oldest = next(iter(self._retired.items()))
            if oldest.served >= cutoff and self._retired_bytes <= limits.max_bytes:
                break
            del self._retired[version]
            self._retired_bytes -= oldest.size
