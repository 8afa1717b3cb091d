"""Decoding shared by the argument detectors: undo the encodings attackers use to hide ``../``,
``;`` or an IP literal from a naive filter, so every detector judges what the tool will see.

Only pure string work here; the detectors decide what the decoded text means.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Set
from typing import Any, Final

import re2

# Overlong UTF-8 and IIS ``%u`` forms of dot, slash and backslash: invalid to a strict decoder,
# accepted by old servers and some path normalisers, so we fold them to what they meant.
_ODD_ENCODINGS = re.compile(
    r"%(?:c0%(?:ae|2e|af|2f|5c|9c)|c1%(?:9c|1c)|e0%80%(?:ae|af)|f0%80%80%(?:ae|af)"
    r"|u(?:002e|002f|005c|2215|2216|ff0e|ff0f|ff3c))",
    re.IGNORECASE,
)
_ODD_MEANING = {
    "ae": ".",
    "2e": ".",
    "af": "/",
    "2f": "/",
    "5c": "\\",
    "9c": "\\",
    "1c": "\\",
    "002e": ".",
    "002f": "/",
    "005c": "\\",
    "2215": "/",
    "2216": "\\",
    "ff0e": ".",
    "ff0f": "/",
    "ff3c": "\\",
}
_ANY_ESCAPE = re.compile(r"%(?:[0-9A-Fa-f]{2}|[uU][0-9A-Fa-f]{4})")
_ESCAPE_RUN = re.compile(r"%[0-9A-Fa-f]{2}(?:%[0-9A-Fa-f]{2})*")
_MAX_DECODE_ROUNDS = 3  # %25252e is three layers deep; more layers than that is noise

# Look-alikes NFKC leaves alone (division slash, fraction slash, set minus, big solidus).
_SLASH_LOOKALIKES = str.maketrans(
    {"\u2215": "/", "\u2044": "/", "\u29f8": "/", "\u2216": "\\", "\u29f9": "\\", "\u29f5": "\\"}
)
# str.translate walks a non-ASCII text through a dict char by char (~50 ns each): look first
# (a one-character ``in`` is a memchr, and instant when the text cannot hold the character).
_LOOKALIKES = "\u2215\u2044\u29f8\u2216\u29f9\u29f5"


def _odd_replacement(match: re.Match[str]) -> str:
    code = match.group(0).lower().rsplit("%", 1)[-1].removeprefix("u")
    return _ODD_MEANING.get(code, match.group(0))


def _utf8_of_escapes(match: re.Match[str]) -> str:
    return bytes.fromhex(match.group(0).replace("%", "")).decode("utf-8", errors="replace")


def _unquote(text: str) -> str:
    """``urllib.parse.unquote(text, errors="replace")``, four times faster on long text: a run of
    escapes is decoded as one UTF-8 byte string (literal characters never join a multi-byte
    sequence, so decoding run by run is the same)."""
    return _ESCAPE_RUN.sub(_utf8_of_escapes, text)


def percent_decode(text: str) -> str:
    """Peel up to three layers of percent-encoding (plus overlong forms) off ``text``.

    Servers that decode twice turn ``%252e`` into ``.``; we decode until nothing changes.
    """
    current = text
    for _ in range(_MAX_DECODE_ROUNDS):
        if "%" not in current or _ANY_ESCAPE.search(current) is None:
            break
        decoded = _unquote(_ODD_ENCODINGS.sub(_odd_replacement, current))
        if decoded == current:
            break
        current = decoded
    return current


def fold_unicode(text: str) -> str:
    """NFKC-normalise non-ASCII text and map slash look-alikes, as many filesystems and URL
    parsers effectively do: fullwidth dots and slashes become ``../``, circled digits plain digits."""
    if text.isascii():
        return text
    if any(lookalike in text for lookalike in _LOOKALIKES):
        text = text.translate(_SLASH_LOOKALIKES)
    return unicodedata.normalize("NFKC", text)


def decoded_view(text: str) -> str:
    """The text as a lenient consumer would read it: percent-decoded, then Unicode-folded."""
    return fold_unicode(percent_decode(text))


# Gates: one RE2 pass (linear, a DFA) tells which checks could fire at all, so the slower ``re``
# scans and the Python around them run only when needed. A gate must match whenever its check
# would: it is written as a superset of the check's pattern (lookarounds and word boundaries
# dropped). RE2's ``\s``, ``\w`` and case folding are narrower than Python's, so gates spell them
# out: Python's whitespace (``str.isspace``), word characters (any non-ASCII counts), and the
# dotted/dotless capital and small i that Python's IGNORECASE also folds to ``i``.
RE2_SPACE: Final = r"\t-\r\x1c- \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_LETTER_I = re.compile("[iI]")
RE2_WORD: Final = r"[0-9A-Za-z_\x{80}-\x{10FFFF}]"
RE2_WORD_DOT_DASH: Final = r"[0-9A-Za-z_.\-\x{80}-\x{10FFFF}]"


def re2_caseless(words: Iterable[str]) -> str:
    """An RE2 alternation matching ``words`` as Python's IGNORECASE would."""
    escaped = (_LETTER_I.sub(r"[iI\\x{130}\\x{131}]", re.escape(word)) for word in sorted(words))
    return "(?i:" + "|".join(escaped) + ")"


def compile_gates(patterns: Iterable[str]) -> Any:
    """An RE2 set of gate patterns, matched together in one pass."""
    gates = re2.Set.SearchSet()
    for pattern in patterns:
        gates.Add(pattern)
    gates.Compile()
    return gates


def open_gates(gates: Any, count: int, text: str) -> Set[int]:
    """Indices of the gates whose pattern occurs in ``text``. Text RE2 cannot take (lone
    surrogates, which are not UTF-8) opens them all, so the checks decide."""
    try:
        found = gates.Match(text)
    except UnicodeEncodeError:
        return frozenset(range(count))
    return frozenset(found) if found else frozenset()
