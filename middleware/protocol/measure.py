"""Measure a decoded JSON value against size, width and depth limits, stopping at the first excess.

The transports do not hand the byte length of a message up the stack (and a middleware may have
rewritten it since), so the size is estimated while walking: the UTF-8 length of every string
and key, JSON punctuation, the digits of integers (from their bit length), 8 bytes per float.
It comes within a few percent of the serialised size and never serialises. Each container's
width is checked before its items are visited, so a 200,000-key object costs one ``len``, and
the walk stops as soon as any limit is passed: the cost of a result over a limit is bounded by
the limit, not by the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FLOAT_BYTES = 8
"""The size counted for a float (its digits are not worth formatting to measure)."""


@dataclass(frozen=True, slots=True)
class Excess:
    """Which limit a value passed: the option that sets it, its value, and what was found.

    ``found`` is a lower bound for ``max_bytes`` (the walk stopped as soon as it knew).
    """

    option: str
    allowed: int
    found: int
    what: str


class _Over(Exception):
    """Ends the walk at the first excess (carried in ``args[0]``)."""


def _text_bytes(text: str) -> int:
    # isascii() is O(1) on CPython; only non-ASCII text pays for an encode.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _scalar_bytes(item: Any) -> int:
    if isinstance(item, str):
        return _text_bytes(item) + 2
    if isinstance(item, bool) or item is None:
        return 5
    if isinstance(item, int):
        return (item.bit_length() * 77 >> 8) + 1 + (item < 0)  # log10(2) ~ 77/256
    return FLOAT_BYTES


def _walk(container: dict[str, Any] | list[Any], depth: int, size: int, limits: tuple[int, int, int]) -> int:
    """``size`` plus the estimated size of ``container``; raises :class:`_Over` at an excess.

    Recursive only into containers, scalars handled inline: the common result (a dict, a list
    of one block) costs three calls. Recursion is bounded by ``max_depth``.
    """
    max_bytes, max_width, max_depth = limits
    if depth > max_depth:
        raise _Over(Excess("max_depth", max_depth, depth, "levels of nesting"))
    width = len(container)
    if type(container) is dict:
        if width > max_width:
            raise _Over(Excess("max_width", max_width, width, "keys in one object"))
        keys = "".join(container)  # one string: its length and ASCII test run in C
        # braces, quotes, colons and commas, then the keys
        size += 1 + width * 4 + (len(keys) if keys.isascii() else _text_bytes(keys))
        items: Any = container.values()
    else:
        if width > max_width:
            raise _Over(Excess("max_width", max_width, width, "items in one array"))
        size += 1 + width  # brackets, commas
        items = container
    for item in items:
        kind = type(item)
        if kind is str:
            size += (len(item) if item.isascii() else _text_bytes(item)) + 2
        elif kind is dict or kind is list:
            size = _walk(item, depth + 1, size, limits)
        else:
            size += _scalar_bytes(item)
    if size > max_bytes:
        raise _Over(Excess("max_bytes", max_bytes, size, "bytes"))
    return size


def measured(value: Any, *, max_bytes: int, max_width: int, max_depth: int, depth: int = 1) -> int | Excess:
    """The estimated size of ``value``, or the first limit it passes. ``depth`` is the level
    ``value`` sits at in the whole answer (1: it is the answer), for measuring a part alone."""
    try:
        kind = type(value)
        if kind is dict or kind is list:
            return _walk(value, depth, 0, (max_bytes, max_width, max_depth))
        size = _scalar_bytes(value)
    except _Over as over:
        excess: Excess = over.args[0]
        return excess
    return Excess("max_bytes", max_bytes, size, "bytes") if size > max_bytes else size


def measure(value: Any, *, max_bytes: int, max_width: int, max_depth: int) -> Excess | None:
    """The first limit ``value`` passes, or None if it is within all of them."""
    found = measured(value, max_bytes=max_bytes, max_width=max_width, max_depth=max_depth)
    return found if isinstance(found, Excess) else None
