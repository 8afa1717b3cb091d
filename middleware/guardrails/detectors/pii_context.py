"""Shared pieces of the PII scanners: the candidate type and the "is there a label before it" test.

Many identifiers (a 9-digit SIN, a passport number) are only personal data when a label says
so; the scanners share one bounded look-behind so the cost stays linear in the text.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import re2
from re2 import _re2


class Candidate(NamedTuple):
    """A span one scanner believes is PII, before overlaps between scanners are resolved."""

    start: int
    end: int
    kind: str


class Label:
    """A label looked for just before a value, with RE2.

    RE2 runs a whole list of label words in one pass over the few dozen characters before a
    value (~0.5 us); ``re`` tries the list at every position (5-15 us for the long lists).
    Patterns use consumed edges instead of look-arounds: ``WORD_EDGE`` is a character that is
    not part of a word, ``WORD_END`` that or the end. The searched slice always starts with the
    character before the window (a space at the start of the text), so a label can open it.
    """

    __slots__ = ("_program", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._program: Any = _re2.RE2(pattern.encode(), _OPTIONS)

    def occurs(self, context: bytes) -> bool:
        """True when the label occurs in ``context`` (the encoded slice, its first byte excluded)."""
        found: bool = self._program.Match(_UNANCHORED, context, 0, len(context))[0][0] >= 0
        return found


WORD_EDGE = r"[^\pL\pN_]"
WORD_END = r"(?:[^\pL\pN_]|$)"
_OPTIONS = re2.Options()
_OPTIONS.max_mem = 32 << 20  # Unicode word edges make large DFAs; without room RE2 falls back to NFA
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED


def label_before(label: Label, text: str, start: int, window: int = 40) -> bool:
    """True when ``label`` occurs in the ``window`` characters before ``start`` on the same line.

    A label on an earlier line (a header far above) says nothing about this value.
    """
    begin = max(0, start - window)
    newline = text.rfind("\n", begin, start)
    if newline >= 0:
        begin = newline + 1
    context = text[begin - 1 : start] if begin > 0 else " " + text[:start]
    return label.occurs(context.encode("utf-8", "surrogatepass"))


def starts_token(text: str, start: int, glue: str) -> bool:
    """True when the character before ``start`` does not glue the match onto a longer token.

    Scanners test this in Python instead of a leading regex look-behind, because a look-behind
    at the start of a pattern disables the regex engine's fast skip to the first character.
    """
    if start == 0:
        return True
    before = text[start - 1]
    return not (before.isalnum() or before == "_" or before in glue)


def digits_only(value: str) -> str:
    """The digits of a formatted number, separators dropped, for checksum validation."""
    return "".join(ch for ch in value if "0" <= ch <= "9")
