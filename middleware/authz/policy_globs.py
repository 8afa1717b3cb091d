"""Glob patterns of policy rules, compiled once into the cheapest matcher that is exact.

``*`` matches any run of characters except ``/``, ``**`` any run including ``/``, ``?`` one
character except ``/``, ``[abc]`` / ``[!abc]`` one character of (not of) a set. So
``file:///public/*`` matches the files directly in ``public`` and ``file:///public/**``
everything below it; names without ``/`` (tools, servers, principals) read as with fnmatch.

Most patterns are a plain name, a prefix (``read_*``) or everything: they become a set lookup
or ``str.startswith``. The rest are translated to a regular expression run by RE2, whose time
is linear in the input whatever the pattern, since a resource URI is the client's to choose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Final

import re2
from re2 import _re2

Matcher = Callable[[str], bool]
META: Final = frozenset("*?[")
_OPTIONS: Final[Any] = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.never_capture = True
_ANCHORS: Final[Any] = _re2.RE2.Anchor


class GlobError(ValueError):
    """A pattern that cannot be compiled; the message says where and how to fix it."""


def _everything(_: str) -> bool:
    return True


def _nothing(_: str) -> bool:
    return False


def compile_glob(pattern: str) -> Matcher:
    """One pattern as a matcher of whole strings."""
    if not isinstance(pattern, str) or not pattern:
        raise GlobError("a pattern must be a non-empty string")
    if pattern == "**":
        return _everything
    first = min((pattern.index(c) for c in META if c in pattern), default=len(pattern))
    prefix, rest = pattern[:first], pattern[first:]
    if not rest:
        return pattern.__eq__
    if rest == "**":
        return lambda text: text.startswith(prefix)
    if rest == "*":
        size = len(prefix)
        return lambda text: text.startswith(prefix) and "/" not in text[size:]
    return linear(translate(pattern), whole=True)


def linear(expression: str, *, whole: bool) -> Matcher:
    """A regular expression run by RE2 (linear time; ~1 µs a call through its low-level API):
    does it match the whole text, or somewhere in it? Raises :class:`GlobError` when invalid."""
    program: Any = _re2.RE2(expression.encode(), _OPTIONS)
    if not program.ok():
        raise GlobError(program.error().decode(errors="replace"))
    match, anchor = program.Match, _ANCHORS.ANCHOR_BOTH if whole else _ANCHORS.UNANCHORED

    def matches(text: str) -> bool:
        data = text.encode(errors="surrogatepass")
        found: list[tuple[int, int]] = match(anchor, data, 0, len(data))
        return found[0][0] >= 0

    return matches


def translate(pattern: str) -> str:
    """The regular expression (RE2 and Python syntax alike) of a glob."""
    parts: list[str] = []
    index, size = 0, len(pattern)
    while index < size:
        char = pattern[index]
        if char == "*":
            double = pattern.startswith("**", index)
            parts.append(".*" if double else "[^/]*")
            index += 2 if double else 1
        elif char == "?":
            parts.append("[^/]")
            index += 1
        elif char == "[":
            text, index = _char_class(pattern, index)
            parts.append(text)
        else:
            parts.append(re.escape(char))
            index += 1
    return "(?s:" + "".join(parts) + ")"


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """``[...]`` at ``start``: its regular expression and the index after it."""
    index = start + 1
    negate = index < len(pattern) and pattern[index] == "!"
    if negate:
        index += 1
    body_start = index
    if index < len(pattern) and pattern[index] == "]":  # a leading ] is a member, as in fnmatch
        index += 1
    end = pattern.find("]", index)
    if end < 0:
        raise GlobError(
            f"unclosed '[' at position {start + 1} of {pattern!r}; close the set with ']' "
            "or write '[[]' for a literal '['"
        )
    body = pattern[body_start:end]
    members = "".join("\\" + c if c in "\\^[]" else c for c in body)
    return ("[^" if negate else "[") + members + "]", end + 1


def compile_globs(patterns: Sequence[str]) -> Matcher:
    """Several patterns as one matcher: does any match? Plain names are one set lookup."""
    exact = frozenset(p for p in patterns if isinstance(p, str) and p and not META & set(p))
    others = [compile_glob(p) for p in patterns if p not in exact]
    if any(m is _everything for m in others):
        return _everything
    if not others:
        return exact.__contains__ if exact else _nothing
    if not exact and len(others) == 1:
        return others[0]
    return lambda text: text in exact or any(match(text) for match in others)
