"""RE2 matching for the poisoning signals: linear time, and one pass says which patterns to run.

Why not ``re``: our signals join words across bounded windows ("send ... up to 150 characters ...
to https://"), and ``re`` retries every window at every position, milliseconds per kilobyte on a
hostile description. RE2 is linear by construction. The signals stay written in Python syntax;
``to_re2`` maps what differs: ``\\w`` becomes (nearly) Python's Unicode set; ``\\s`` Python's ASCII
spaces (the views we scan have their non-ASCII spaces turned into plain ones); ``\\uXXXX`` becomes
``\\x{XXXX}``. RE2's ``\\b`` is ASCII-only, so no pattern puts ``\\b`` next to a non-ASCII letter.
RE2 has no lookaround, so the three signals that need one say so with a ``Veto`` on a named group.

The gates of every signal (substrings that must all occur) are checked by one ``LiteralSet`` pass
per text instead of hundreds of ``in`` tests; only signals whose gates all hit run their pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import re2

MAX_VETOES = 16  # vetoed near-misses one signal may skip in one string before we call it a match
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a hostile text that exhausts a DFA cache must not flood the logs
_OPTIONS.max_mem = 4 << 20  # per pattern; past it RE2 falls back to its (still linear) NFA
_SET_OPTIONS = re2.Options()
_SET_OPTIONS.log_errors = False
_SET_OPTIONS.max_mem = 16 << 20  # a set of literals has few states: let them all stay cached
# Python's ``\w`` (letters and digits of every script) as ranges that skip the punctuation, symbol,
# mark and emoji blocks: the exact [\p{L}\p{N}_] costs RE2 1,300 instructions per use.
_WORD = (
    r"0-9A-Za-z_\x{aa}\x{b5}\x{ba}\x{c0}-\x{d6}\x{d8}-\x{f6}\x{f8}-\x{2ff}\x{370}-\x{1fff}\x{2070}-\x{209f}"
    r"\x{2100}-\x{218f}\x{2c00}-\x{2dff}\x{3005}-\x{3007}\x{3040}-\x{d7ff}\x{f900}-\x{fdff}\x{fe70}-\x{fefe}"
    r"\x{ff10}-\x{ff19}\x{ff21}-\x{ff3a}\x{ff41}-\x{ff5a}\x{ff66}-\x{ffdc}\x{10000}-\x{1efff}\x{20000}-\x{3ffff}"
)
# The ASCII half of what ``\s`` means to ``re`` (str.isspace); see NON_ASCII_SPACE for the rest.
_SPACE = r"\t-\r\x1c-\x20"
NON_ASCII_SPACE = "\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_CLASS_ESCAPES = {"w": _WORD, "s": _SPACE}
_SHORTHAND = {"w": f"[{_WORD}]", "s": f"[{_SPACE}]", "S": f"[^{_SPACE}]"}
_PASSTHROUGH = frozenset("bntrf")

# A veto receives the scanned bytes and the match; True voids the match (it stood for a lookaround).
Veto = Callable[[bytes, Any], bool]


def _escape(pattern: str, index: int, in_class: bool) -> tuple[str, int]:
    """The RE2 form of the escape at ``pattern[index]`` (a backslash) and the index after it."""
    char = pattern[index + 1]
    if char == "u":
        return r"\x{" + pattern[index + 2 : index + 6] + "}", index + 6
    if in_class and char in _CLASS_ESCAPES:
        return _CLASS_ESCAPES[char], index + 2
    if not in_class and char in _SHORTHAND:
        return _SHORTHAND[char], index + 2
    if char in _PASSTHROUGH or not char.isalnum():
        return pattern[index : index + 2], index + 2
    raise ValueError(f"escape \\{char} has no RE2 translation")


def to_re2(pattern: str) -> str:
    """The pattern in RE2 syntax with Python's Unicode meaning of ``\\w`` and ``\\s``."""
    pieces: list[str] = []
    index = 0
    class_body = -1  # where the current character class's members begin; -1 outside a class
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            piece, index = _escape(pattern, index, class_body >= 0)
            pieces.append(piece)
            continue
        if class_body >= 0 and char == "]" and index > class_body:
            class_body = -1
        elif class_body < 0 and char == "[":
            class_body = index + 2 if pattern.startswith("^", index + 1) else index + 1
        pieces.append(char)
        index += 1
    return "".join(pieces)


def compile_re2(pattern: str, ignore_case: bool = True) -> Any:
    """Compile a Python-syntax pattern for RE2, once, at import."""
    return re2.compile(("(?i)" if ignore_case else "") + to_re2(pattern), _OPTIONS)


def encode(text: str) -> bytes:
    """The bytes RE2 scans: UTF-8, lone surrogates (legal in JSON strings) kept as they are."""
    return text.encode("utf-8", "surrogatepass")


def has_match(pattern: Any, data: bytes, veto: Veto | None = None) -> bool:
    """Whether the pattern matches; a vetoed match is skipped and the search goes on after its start."""
    match = pattern.search(data)
    if veto is None or match is None:
        return match is not None
    for _ in range(MAX_VETOES):
        if not veto(data, match):
            return True
        match = pattern.search(data, match.start() + 1)
        if match is None:
            return False
    return True  # dozens of near-misses in one string: fail closed rather than search on


class LiteralSet:
    """Which of several groups of substrings occur in a text, found in one linear pass."""

    __slots__ = ("_set",)

    def __init__(self, groups: Sequence[Sequence[str]]) -> None:
        self._set = re2.Set.SearchSet(_SET_OPTIONS)
        for group in groups:
            self._set.Add("|".join(re2.escape(literal) for literal in group))
        self._set.Compile()

    def present(self, data: bytes) -> frozenset[int]:
        """Indices of the groups that occur in ``data``."""
        return frozenset(self._set.Match(data) or ())
