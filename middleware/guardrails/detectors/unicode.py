"""Unicode tricks shared by the injection and poisoning detectors.

Text meant for a model can hide in characters a human reviewer never sees (tag characters, zero-width
marks, bidi controls) or dress up as something else (Cyrillic letters that look Latin). These helpers
find, strip, decode and normalise them; the detectors decide what counts as an attack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from confusable_homoglyphs import confusables  # Unicode's confusables table, kept by its authors

# Tag characters (U+E0000..U+E007F) mirror ASCII and render as nothing: a whole sentence fits.
_TAGS = "\U000e0000-\U000e007f"
# Zero-width spaces and joiners, word joiner, invisible operators, BOM, Mongolian vowel separator.
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060-\u2064\ufeff\u180e"
# Bidi embeddings, overrides and isolates: reorder what is shown, not what is read.
_BIDI = "\u202a-\u202e\u2066-\u2069"
# Supplementary variation selectors carry bytes in "invisible" payloads; FE00-FE0F stay (emoji use).
_VARIATION = "\U000e0100-\U000e01ef"

INVISIBLE_RUN = re.compile(f"[{_TAGS}{_ZERO_WIDTH}{_BIDI}{_VARIATION}]+")
_ANY_INVISIBLE = re.compile(f"[{_TAGS}{_ZERO_WIDTH}{_BIDI}{_VARIATION}]")
_TAG_RUN = re.compile(f"[{_TAGS}]+")
_EMOJI_FLAG_BLACK = "\U0001f3f4"  # subdivision flags: U+1F3F4, tag letters, U+E007F cancel tag


@dataclass(frozen=True, slots=True)
class InvisibleRun:
    """A run of invisible characters: where, of which family, and how many."""

    start: int
    end: int
    family: str  # "tag" | "zero_width" | "bidi" | "variation"


def _family(char: str) -> str:
    code = ord(char)
    if 0xE0000 <= code <= 0xE007F:
        return "tag"
    if 0xE0100 <= code <= 0xE01EF:
        return "variation"
    if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
        return "bidi"
    return "zero_width"


def _is_emoji_sequence(text: str, start: int, end: int) -> bool:
    """A zero-width joiner inside an emoji sequence, or a subdivision flag's tags, is not hidden text."""
    run = text[start:end]
    if run == "\u200d":
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        return bool(before and after and ord(before) > 0x2000 and ord(after) > 0x2000)
    return start > 0 and text[start - 1] == _EMOJI_FLAG_BLACK and run.endswith("\U000e007f") and len(run) <= 7


def invisible_runs(text: str) -> list[InvisibleRun]:
    """Every run of invisible characters, except those that legitimately build emoji."""
    if text.isascii():
        return []
    runs = []
    for match in INVISIBLE_RUN.finditer(text):
        start, end = match.span()
        if _is_emoji_sequence(text, start, end):
            continue
        runs.append(InvisibleRun(start, end, _family(text[start])))
    return runs


def strip_invisible(text: str) -> str:
    """The text as a reader sees it: invisible characters removed (emoji sequences kept)."""
    if text.isascii() or not _ANY_INVISIBLE.search(text):
        return text
    pieces = []
    last = 0
    for run in invisible_runs(text):
        pieces.append(text[last : run.start])
        last = run.end
    pieces.append(text[last:])
    return "".join(pieces)


def decode_tags(text: str) -> str:
    """The ASCII message smuggled in tag characters (each tag mirrors one ASCII code point)."""
    if text.isascii():
        return ""
    hidden = []
    for match in _TAG_RUN.finditer(text):
        hidden.append("".join(chr(ord(char) - 0xE0000) for char in match.group() if ord(char) < 0xE007F))
    return " ".join(piece for piece in hidden if piece.strip())


def _build_skeleton_table() -> dict[int, str]:
    """Map each non-ASCII character that Unicode lists as confusable with one ASCII letter or digit."""
    table: dict[int, str] = {}
    for char, glyphs in confusables.confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        for glyph in glyphs:
            target = glyph["c"]
            if len(target) == 1 and target.isascii() and target.isalnum():
                table[ord(char)] = target
                break
    return table


_SKELETON = _build_skeleton_table()


def to_skeleton(text: str) -> str:
    """Replace look-alike letters (Cyrillic a, Greek o, fullwidth A...) with their ASCII twin."""
    if text.isascii():
        return text
    return text.translate(_SKELETON)


def has_lookalikes(text: str) -> bool:
    """True when the text contains letters that Unicode lists as confusable with ASCII ones."""
    return not text.isascii() and to_skeleton(text) != text


def is_mixed_script(word: str) -> bool:
    """A single identifier or word mixing scripts (Latin with Cyrillic, say) is a spoofing sign."""
    if word.isascii():
        return False
    return bool(confusables.is_mixed_script(word))
