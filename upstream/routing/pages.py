"""Gateway-owned pagination over merged lists.

A first page takes a snapshot of the merged list; the opaque cursor names the snapshot and the
offset, so later pages are consistent with the first even if an upstream changes meanwhile.
A cursor whose snapshot has been evicted continues from the same offset of a fresh list,
which the deterministic order (configuration order, then each server's own) makes sound.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

MAX_SNAPSHOTS: Final = 256


class InvalidCursor(ValueError):
    """The cursor was not issued by this gateway for this list."""


@dataclass(frozen=True, slots=True)
class Position:
    snapshot: int
    offset: int


class Pages:
    def __init__(self, list_name: str, page_size: int) -> None:
        self._name = list_name
        self._page_size = page_size
        self._snapshots: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()
        self._ids = itertools.count(1)

    def decode(self, cursor: object) -> Position:
        if not isinstance(cursor, str):
            raise InvalidCursor("the cursor must be a string from a previous nextCursor")
        try:
            name, snapshot, offset = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
            position = Position(int(snapshot), int(offset))
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise InvalidCursor("the cursor is not one this gateway issued") from None
        if name != self._name or position.offset < 0:
            raise InvalidCursor(f"the cursor was not issued for {self._name}")
        return position

    def snapshot(self, position: Position) -> list[dict[str, Any]] | None:
        return self._snapshots.get(position.snapshot)

    def page(
        self, items: list[dict[str, Any]], position: Position | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``items``, and the cursor of the next page if there is one."""
        offset = position.offset if position else 0
        end = offset + self._page_size
        if end >= len(items):
            return items[offset:], None
        snapshot = position.snapshot if position and position.snapshot in self._snapshots else None
        if snapshot is None:
            snapshot = next(self._ids)
            self._snapshots[snapshot] = items
            while len(self._snapshots) > MAX_SNAPSHOTS:
                self._snapshots.popitem(last=False)
        token = f"{self._name}:{snapshot}:{end}".encode()
        return items[offset:end], base64.urlsafe_b64encode(token).decode()
