"""Every string of a JSON value, at any depth, with the path that leads to it.

Guardrails read arguments, results and definitions the same way: walk the strings, judge each,
and rebuild only the containers on the way to a string that changed (everything else stays the
same object, so an untouched result costs no copy). Depth is bounded: deeper values are reported
as one finding rather than walked (the size limits refuse such messages earlier anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

MAX_DEPTH = 64
"""Deeper than this, a value is not walked (JSON from a tool is never legitimately this deep)."""

Rewrite = Callable[[str, str], str]
"""(text, path) -> the text to keep (the same object when nothing changes)."""


def strings(value: Any, path: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """(path, text) for every string in ``value``, keys of objects included."""
    if isinstance(value, str):
        yield path, value
    elif depth >= MAX_DEPTH:
        return
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and not key.isidentifier():
                yield f"{child}#key", key
            yield from strings(item, child, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{path}[{index}]", depth + 1)


NOT_TEXT = frozenset({"type", "mimeType", "blob", "data", "_meta", "uri", "isError", "annotations"})
"""Keys of MCP content whose values a model does not read as text (or that must stay intact)."""


def rewrite(
    value: Any, change: Rewrite, path: str = "", depth: int = 0, skip: frozenset[str] = frozenset()
) -> Any:
    """``value`` with each string replaced by ``change(text, path)``; unchanged parts are shared.
    Values under a key in ``skip`` are left alone (at any depth)."""
    if isinstance(value, str):
        return change(value, path)
    if depth >= MAX_DEPTH:
        return value
    if isinstance(value, dict):
        changed: dict[str, Any] | None = None
        for key, item in value.items():
            if key in skip:
                continue
            new = rewrite(item, change, f"{path}.{key}" if path else str(key), depth + 1, skip)
            if new is not item:
                changed = changed if changed is not None else dict(value)
                changed[key] = new
        return value if changed is None else changed
    if isinstance(value, list):
        copied: list[Any] | None = None
        for index, item in enumerate(value):
            new = rewrite(item, change, f"{path}[{index}]", depth + 1, skip)
            if new is not item:
                copied = copied if copied is not None else list(value)
                copied[index] = new
        return value if copied is None else copied
    return value
