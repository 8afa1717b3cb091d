"""Sizes of list items already measured, remembered by identity.

The gateway answers every ``tools/list`` (and prompts, resources, templates) from its catalog,
whose definitions are the same objects until a server's list changes. Measuring them again on
every request cost ~2 µs per tool; remembering each definition's size costs a lookup. An entry
holds a reference to its object, so the object's ``id`` cannot be reused by another while it is
remembered; the memory held is bounded by a byte budget and an entry count (past either, it
starts afresh).

Relayed answers are not changed in place after they are measured (a middleware that rewrites an
answer builds a new one, as every layer of the gateway does): a mutated definition would keep
its old size here.
"""

from __future__ import annotations

from typing import Any, Final

MAX_ENTRIES: Final = 10_000
MAX_BYTES: Final = 8 * 1024 * 1024
"""The estimated bytes of the definitions remembered (they are mostly the catalog's own)."""


class KnownSizes:
    __slots__ = ("_bytes", "_sizes")

    def __init__(self) -> None:
        self._sizes: dict[int, tuple[Any, int]] = {}
        self._bytes = 0

    def size(self, item: Any) -> int | None:
        """The size measured for this very object, or None if it was not measured."""
        entry = self._sizes.get(id(item))
        return entry[1] if entry is not None and entry[0] is item else None

    def remember(self, item: Any, size: int) -> None:
        if len(self._sizes) >= MAX_ENTRIES or self._bytes + size > MAX_BYTES:
            self._sizes.clear()
            self._bytes = 0
            if size > MAX_BYTES:
                return
        self._sizes[id(item)] = (item, size)
        self._bytes += size
