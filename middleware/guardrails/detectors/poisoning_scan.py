"""One pass over a string says which poisoning signals can match; only those run their pattern.

Each signal has gates (substrings that must all occur, see ``poisoning_fragments``). Checking them
one ``in`` test at a time cost more than the patterns on an honest description, so every distinct
gate group, plus the cues of encoded payloads and of security-tool descriptions, is one entry of an
RE2 set matched once per view. An honest 1 KB description then runs a handful of linear RE2 patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from middleware.guardrails.detectors.poisoning_decode import ROT13_HINTS
from middleware.guardrails.detectors.poisoning_engine import (
    NON_ASCII_SPACE,
    LiteralSet,
    compile_re2,
    encode,
    has_match,
)
from middleware.guardrails.detectors.poisoning_fragments import Signal
from middleware.guardrails.detectors.poisoning_i18n import MULTILINGUAL
from middleware.guardrails.detectors.poisoning_lexicon import INTENT, STRONG
from middleware.guardrails.detectors.poisoning_lexicon_context import CONTEXT, MORE_INTENT, TARGET
from middleware.guardrails.detectors.poisoning_lexicon_extra import EXTRA_CONTEXT, EXTRA_INTENT, EXTRA_TARGET
from middleware.guardrails.detectors.poisoning_lexicon_fourth import (
    FOURTH_CONTEXT,
    FOURTH_INTENT,
    FOURTH_MULTILINGUAL,
    FOURTH_TARGET,
)
from middleware.guardrails.detectors.poisoning_lexicon_more import MORE_CONTEXT as R3_CONTEXT
from middleware.guardrails.detectors.poisoning_lexicon_more import MORE_INTENT as R3_INTENT
from middleware.guardrails.detectors.poisoning_lexicon_more import MORE_TARGET as R3_TARGET
from middleware.guardrails.detectors.unicode import strip_invisible, to_skeleton

SIGNALS: tuple[Signal, ...] = (
    STRONG
    + INTENT
    + MORE_INTENT
    + EXTRA_INTENT
    + R3_INTENT
    + FOURTH_INTENT
    + TARGET
    + EXTRA_TARGET
    + R3_TARGET
    + FOURTH_TARGET
    + CONTEXT
    + EXTRA_CONTEXT
    + R3_CONTEXT
    + FOURTH_CONTEXT
    + MULTILINGUAL
    + FOURTH_MULTILINGUAL
)
META_WORDS = (
    "inject",
    "jailbreak",
    "secret",
    "credential",
    "leak",
    "malicious",
    "phishing",
    "poison",
    "attack",
    "exfiltrat",
    "compromise",
    "chat template",
    "chat-template",
)
# What an encoded payload needs (case-blind supersets of poisoning_decode's candidates). A pattern
# of its own: inside the literal set its counters would multiply the set's states.
_ENCODED = compile_re2(
    r"[a-z0-9+/_-]{24}|(?:[0-9a-f]{2}){16}|(?:%[0-9a-f]{2}[^%\s]{0,24}){4}|(?:\\x[0-9a-f]{2}){8}"
)
_NON_ASCII_SPACE = re.compile(f"[{NON_ASCII_SPACE}]")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f](?:[^A-Za-z]*[^\x00-\x7f])?")


@dataclass(frozen=True, slots=True)
class Views:
    """The same text as matched by the three kinds of pattern."""

    cased: str
    plain: str
    folded: str


def _skeleton(text: str) -> str:
    """``to_skeleton`` applied only where the text is not ASCII: mostly-English text stays cheap."""
    return _NON_ASCII_RUN.sub(lambda run: to_skeleton(run.group()), text)


def views_of(text: str, has_invisible: bool = True) -> Views:
    """Invisible characters removed; lower-cased; and homoglyphs folded to their ASCII twins.

    ``has_invisible=False`` says the caller found no invisible characters: nothing to strip.
    """
    visible = strip_invisible(text) if has_invisible else text
    if visible.isascii():
        plain = visible.lower()
        return Views(visible, plain, plain)
    visible = _NON_ASCII_SPACE.sub(" ", visible.replace("\u00ad", ""))
    return Views(visible, visible.lower(), _skeleton(visible).lower())


def _gate_index() -> tuple[LiteralSet, tuple[frozenset[int], ...], int]:
    """One set of every distinct gate group (cased gates lower-cased) then the meta and ROT13 cues;
    each signal's groups; the number of gate groups."""
    groups: dict[tuple[str, ...], int] = {}
    needs: list[frozenset[int]] = []
    for sig in SIGNALS:
        ids = set()
        for group in sig.gates:
            key = tuple(gate.lower() for gate in group) if sig.on == "cased" else group
            ids.add(groups.setdefault(key, len(groups)))
        needs.append(frozenset(ids))
    return LiteralSet([*groups, META_WORDS, ROT13_HINTS]), tuple(needs), len(groups)


_GATES, _NEEDS, _META_CUE = _gate_index()
_PLAN = tuple(zip(SIGNALS, _NEEDS, (sig.on == "folded" for sig in SIGNALS), strict=True))
_ROT13_CUE = _META_CUE + 1


class Scan:
    """The gate hits of a string's views, and their bytes as RE2 reads them (encoded once)."""

    __slots__ = ("_cased", "folded", "folded_hits", "plain", "plain_hits", "views")

    def __init__(self, views: Views) -> None:
        self.views = views
        self.folded = encode(views.folded)
        self.folded_hits = _GATES.present(self.folded)
        same = views.plain == views.folded
        self.plain = self.folded if same else encode(views.plain)
        self.plain_hits = self.folded_hits if same else _GATES.present(self.plain)
        self._cased: bytes | None = None

    @property
    def may_be_encoded(self) -> bool:
        """A base64, hex or percent-encoded run, or a ROT13 cue, occurs."""
        return _ROT13_CUE in self.plain_hits or has_match(_ENCODED, self.plain)

    @property
    def has_meta_word(self) -> bool:
        """A word that security tools use about their subject occurs (injection, secret...)."""
        return _META_CUE in self.folded_hits

    def candidates(self) -> list[Signal]:
        """The signals whose gate groups all occur in the view they match on, in lexicon order."""
        folded, plain = self.folded_hits, self.plain_hits
        return [sig for sig, needs, on_folded in _PLAN if needs <= (folded if on_folded else plain)]

    def matches(self, sig: Signal) -> bool:
        """Whether a candidate signal's pattern agrees (a cased signal checks its exact gates first)."""
        if sig.on == "folded":
            return has_match(sig.pattern, self.folded, sig.veto)
        if sig.on == "plain":
            return has_match(sig.pattern, self.plain, sig.veto)
        cased = self.views.cased
        if not all(any(gate in cased for gate in group) for group in sig.gates):
            return False
        if self._cased is None:
            self._cased = encode(cased)
        return has_match(sig.pattern, self._cased, sig.veto)


def collect(scan: Scan) -> dict[str, Signal]:
    """The strongest signal of each group found in the text (the first one on a tie)."""
    found_signals: dict[str, Signal] = {}
    if not scan.folded_hits and not scan.plain_hits:
        return found_signals
    for sig in scan.candidates():
        held = found_signals.get(sig.group)
        if held is not None and held.weight >= sig.weight:
            continue
        if scan.matches(sig):
            found_signals[sig.group] = sig
    return found_signals
