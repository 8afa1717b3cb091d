"""The forms of one text the injection detector scans, and how to map spans back to the original.

``visible`` drops invisible characters (so zero-width marks cannot split keywords), ``scan`` also
folds look-alike letters to ASCII and lowercases (so Cyrillic "\u0456gnore" reads as "ignore"), and
``native`` lowercases without folding (for languages written in Cyrillic or other scripts). All three
have the same length, so one offset map leads back to the original text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

import re2

from middleware.guardrails.detectors.injection_anchors import char_spans
from middleware.guardrails.detectors.injection_links import Link, iter_links
from middleware.guardrails.detectors.injection_score import Cluster
from middleware.guardrails.detectors.unicode import (
    INVISIBLE_RUN,
    InvisibleRun,
    invisible_runs,
    is_mixed_script,
    to_skeleton,
)

_WORD = re.compile(r"\w+")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_LEFT_STOPS = ("\n", ". ", "! ", "? ", ">", '"', "\u3002")
_RIGHT_STOPS = ("\n", ". ", "! ", "? ", "<", '"', "\u3002")
_REACH = 300
# Scripts and blocks whose letters pass for Latin ones; folding only when present keeps typical
# non-ASCII text (accents, dashes, CJK) off the slower translation path.
_LOOKALIKE_SCRIPTS = re2.compile(
    "[\u0250-\u02af\u0370-\u052f\u13a0-\u13ff\u1d00-\u1dbf\u2100-\u214f\ua640-\ua69f"
    "\uff00-\uffef\U0001d400-\U0001d7ff]"
)


_ANY_INVISIBLE = re2.compile(INVISIBLE_RUN.pattern)
_FEW_RUNS = 64
_NON_ASCII = re.compile("[^\x00-\x7f]+")
_SPARSE = 0.05  # extra UTF-8 bytes per character below which folding run by run beats one translate


def _invisible_runs(text: str, data: bytes) -> tuple[InvisibleRun, ...]:
    """``unicode.invisible_runs``, faster: RE2 finds the runs, the shared helper judges each in context."""
    spans = list(char_spans(_ANY_INVISIBLE, text, data))
    if len(spans) > _FEW_RUNS:
        return tuple(invisible_runs(text))  # one pass of the shared helper is cheaper then
    runs: list[InvisibleRun] = []
    for start, end in spans:
        left = max(0, start - 1)  # the characters around a run decide whether it builds an emoji
        runs.extend(
            InvisibleRun(left + run.start, left + run.end, run.family)
            for run in invisible_runs(text[left : end + 1])
        )
    return tuple(runs)


# Folded before the confusable skeleton: fullwidth ASCII is ASCII (the skeleton keeps some of it),
# and capital iotas read as "I" (the skeleton makes them "l", so "\u0399gnore" would not read "ignore").
_PRE_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | dict.fromkeys(
    (0x399, 0x406, 0x4C0), "I"
)


def _skeleton(text: str) -> str:
    return to_skeleton(text.translate(_PRE_FOLD))


def _fold(text: str) -> str:
    """``to_skeleton`` of the text; mostly-ASCII text folds only its non-ASCII runs (4x faster)."""
    extra = len(text.encode("utf-8", "surrogatepass")) - len(text)
    if extra > _SPARSE * len(text):
        return _skeleton(text)
    return _NON_ASCII.sub(lambda run: _skeleton(run.group()), text)


def _lower(text: str) -> str:
    """Lowercase without changing the length (a few characters grow when lowercased)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(char.lower() if len(char.lower()) == 1 else char for char in text)


def _unescape(text: str) -> str:
    """JSON-escaped newlines and quotes read as real ones, keeping every offset in place."""
    if "\\" not in text:
        return text
    return text.replace("\\n", " \n").replace('\\"', ' "').replace("\\'", " '")


@dataclass(frozen=True, slots=True)
class View:
    """One text in its scanned forms, with the offsets of the invisible runs removed from it."""

    original: str
    visible: str
    scan: str
    native: str
    removed_at: tuple[int, ...]  # visible offsets where a run was removed
    removed_before: tuple[int, ...]  # characters removed up to and including that run
    runs: tuple[InvisibleRun, ...]  # the invisible runs of the original text
    links: tuple[Link, ...]  # markdown/HTML links and images of the visible text

    @classmethod
    def of(cls, text: str) -> View:
        ascii_only = text.isascii()
        data = b"" if ascii_only else text.encode("utf-8", "surrogatepass")  # one encoding, two RE2 passes
        runs = _invisible_runs(text, data) if data else ()
        visible, removed_at, removed_before = _strip(text, runs)
        native = _unescape(_lower(visible))
        folded = bool(data) and _LOOKALIKE_SCRIPTS.search(data) is not None  # never invisible: same answer
        scan = _unescape(_lower(_fold(visible))) if folded else native
        return cls(text, visible, scan, native, removed_at, removed_before, runs, tuple(iter_links(visible)))

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of the visible text back to the original (invisible characters included)."""
        if not self.removed_at:
            return start, end
        return start + self._removed_up_to(start), end + self._removed_up_to(max(start, end - 1))

    def _removed_up_to(self, offset: int) -> int:
        """Invisible characters removed before the visible character at ``offset``."""
        index = bisect_right(self.removed_at, offset) - 1
        return self.removed_before[index] if index >= 0 else 0

    def has_invisible_in(self, start: int, end: int) -> bool:
        index = bisect_right(self.removed_at, start)
        return index < len(self.removed_at) and self.removed_at[index] <= end


def _strip(text: str, runs: tuple[InvisibleRun, ...]) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    if not runs:
        return text, (), ()
    pieces, removed_at, removed_before = [], [], []
    last = removed = 0
    for run in runs:
        pieces.append(text[last : run.start])
        removed_at.append(run.start - removed)
        removed += run.end - run.start
        removed_before.append(removed)
        last = run.end
    pieces.append(text[last:])
    return "".join(pieces), tuple(removed_at), tuple(removed_before)


def expand_to_sentence(scan: str, start: int, end: int) -> tuple[int, int]:
    """Widen a cluster to the sentence or element around it, so a redaction removes all of it."""
    while start < end and scan[start].isspace():
        start += 1
    lower_bound = max(0, start - _REACH)
    lefts = [(scan.rfind(stop, lower_bound, start), stop) for stop in _LEFT_STOPS]
    left = max((found + len(stop) for found, stop in lefts if found >= 0), default=start)
    rights = [(scan.find(stop, end, end + _REACH), stop) for stop in _RIGHT_STOPS]
    if len(scan) - end <= _REACH:
        rights.append((len(scan), ""))  # the end of the text closes the last sentence
    right = min((found + stop.endswith(" ") for found, stop in rights if found >= 0), default=end)
    while left < start and scan[left].isspace():
        left += 1
    return min(left, start), max(right, end)


def _has_homoglyphs(view: View, start: int, end: int) -> bool:
    if view.visible[start:end].isascii():
        return False
    words = (word.group() for word in _WORD.finditer(view.visible, start, end))
    return any(not word.isascii() and _ASCII_LETTER.search(word) and is_mixed_script(word) for word in words)


def kind_of(cluster: Cluster, view: View, inside_hidden: bool) -> str:
    """How the injection was delivered when that is distinctive, else what it asks for."""
    families = cluster.families
    wrappers = (
        ("role_marker", families.get("role", 0) >= 2),
        ("html_hidden", inside_hidden),
        ("invisible_unicode", view.has_invisible_in(cluster.start, cluster.end)),
        ("homoglyph", _has_homoglyphs(view, cluster.start, cluster.end)),
        ("md_exfil", "md_exfil" in families),
        ("multilingual", "ml_override" in families),
        ("phishing", "phishing" in families),
        ("override", families.get("override", 0) >= 2 or "persona" in families),
        ("tool_hijack", any(name in families for name in ("tool", "danger", "exfil"))),
        ("conceal", "conceal" in families),
        ("authority", "authority" in families),
    )
    return next((kind for kind, applies in wrappers if applies), "override")
