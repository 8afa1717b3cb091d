"""Turn cue matches into scored clusters: several weak signals close together make an injection.

A cluster is a run of signals no more than ``_GAP`` characters apart. Each family counts once (its
strongest match), "meta" cues (talk ABOUT prompt injection, examples) subtract, and a cluster is an
injection when it scores at least ``THRESHOLD`` and holds at least one cue aimed at the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from middleware.guardrails.detectors.injection_anchors import AnchoredRules
from middleware.guardrails.detectors.injection_indirect import INDIRECT_RULES, INDIRECT_SECONDARY
from middleware.guardrails.detectors.injection_links import Link, exfil_weight
from middleware.guardrails.detectors.injection_markers import ROLE_RULES
from middleware.guardrails.detectors.injection_multilingual import FOLLOW_UP_RULE, LATIN_RULES, OTHER_RULES
from middleware.guardrails.detectors.injection_rules import (
    OVERRIDE_VERBS,
    PRIMARY_FAMILIES,
    PRIMARY_RULES,
    Rule,
)
from middleware.guardrails.detectors.injection_secondary import SECONDARY_RULES
from middleware.guardrails.detectors.injection_steering import STEERING_RULES

THRESHOLD = 3.0
_GAP = 220
_WINDOW = 260
_PERIPHERAL = frozenset({"meta", "ml_follow", "link", "secret"})


@dataclass(frozen=True, slots=True)
class Signal:
    """One cue match in the scanned text."""

    start: int
    end: int
    family: str
    weight: float
    marker: str = ""


@dataclass(slots=True)
class Cluster:
    """Signals close together, scored as one candidate injection."""

    start: int
    end: int
    families: dict[str, float] = field(default_factory=dict)
    markers: set[str] = field(default_factory=set)
    core_start: int = 1 << 62  # span of the signals that carry the attack (for redaction)
    core_end: int = -1

    def add(self, signal: Signal) -> None:
        self.end = max(self.end, signal.end)
        if signal.family not in _PERIPHERAL:
            self.core_start = min(self.core_start, signal.start)
            self.core_end = max(self.core_end, signal.end)
        if signal.family == "meta":
            self.families["meta"] = min(self.families.get("meta", 0.0), signal.weight)
        else:
            self.families[signal.family] = max(self.families.get(signal.family, 0.0), signal.weight)
        if signal.marker:
            self.markers.add(signal.marker)

    @property
    def score(self) -> float:
        families = dict(self.families)
        if "ml_override" not in families:
            families.pop("ml_follow", None)  # language-neutral follow-ups only back a foreign override
        if "role" in families and len(self.markers) >= 2:
            families["role"] = 3.0  # an opening and a closing marker: a whole fake turn
        return sum(families.values())

    @property
    def aimed_at_model(self) -> bool:
        return any(weight > 0 and family in PRIMARY_FAMILIES for family, weight in self.families.items())


def _signal(rule: Rule, match: re.Match[str], scan: str) -> Signal:
    if rule.graded:  # an override verb: "previous instructions" beats "the rules", an order beats a mention
        weight = (2.5 if match.group("strong") else 1.5) + _imperative_bonus(scan, match.start())
        return Signal(match.start(), match.end(), rule.family, weight)
    if rule.family == "role" and _in_inline_code(scan, match.start(), match.end()):
        return Signal(match.start(), match.end(), "role", 0.5)  # `<|im_start|>` in docs: a mention
    marker = match.group().strip() if rule.family == "role" else ""
    return Signal(match.start(), match.end(), rule.family, rule.weight, marker)


def _in_inline_code(scan: str, start: int, end: int) -> bool:
    """A marker quoted as inline code is being named, not used: a real fake turn needs no backticks."""
    return start > 0 and scan[start - 1] == "`" and scan[end : end + 1] == "`"


def _imperative_bonus(scan: str, start: int) -> float:
    """An override that opens a sentence is an order; one inside quotes or mid-sentence is a mention."""
    before = scan[max(0, start - 12) : start].rstrip(" \t")
    if not before or before[-1] in "\n.!?:;>*-([":
        return 0.5
    return 0.0


# English cues run on the folded text, the other languages on the unfolded one; usually the same text.
_ENGLISH = AnchoredRules.of(PRIMARY_RULES, STEERING_RULES, ROLE_RULES, OVERRIDE_VERBS, INDIRECT_RULES)
_FOREIGN = AnchoredRules.of(LATIN_RULES, OTHER_RULES)
_ALL = AnchoredRules.of(
    PRIMARY_RULES, STEERING_RULES, ROLE_RULES, OVERRIDE_VERBS, INDIRECT_RULES, LATIN_RULES, OTHER_RULES
)
_SECONDARY = AnchoredRules.of(SECONDARY_RULES, INDIRECT_SECONDARY)
_FOLLOW_UPS = AnchoredRules.of((FOLLOW_UP_RULE,))


def _primary_signals(scan: str, native: str, links: Sequence[Link]) -> list[Signal]:
    """Cues that talk to the model, searched over the whole text (anchors first, see injection_anchors)."""
    passes = ((_ALL, scan),) if scan is native else ((_ENGLISH, scan), (_FOREIGN, native))
    signals = [_signal(rule, match, text) for rules, text in passes for rule, match in rules.matches(text)]
    for link in links:
        weight = exfil_weight(link)
        if weight > 0:
            family = "md_exfil" if weight >= 2 else "link"
            signals.append(Signal(link.start, link.end, family, weight))
    return signals


def _windows(signals: list[Signal], length: int) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for signal in sorted(signals, key=lambda found: found.start):
        start, end = max(0, signal.start - _WINDOW), min(length, signal.end + _WINDOW)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


def signals_of(scan: str, native: str, links: Sequence[Link]) -> list[Signal]:
    """All cues: primary ones everywhere, secondary ones only near a primary one (cheap on long text)."""
    signals = _primary_signals(scan, native, links)
    if not signals:
        return []
    for start, end in _windows(signals, len(scan)):
        signals.extend(_signal(rule, match, scan) for rule, match in _SECONDARY.matches(scan, start, end))
    foreign = [signal for signal in signals if signal.family == "ml_override"]
    for start, end in _windows(foreign, len(native)):
        signals.extend(
            _signal(rule, match, native) for rule, match in _FOLLOW_UPS.matches(native, start, end)
        )
    return sorted(signals, key=lambda found: found.start)


def clusters_of(signals: list[Signal]) -> list[Cluster]:
    """Group signals that sit close together; keep the groups that add up to an injection."""
    clusters: list[Cluster] = []
    current: Cluster | None = None
    for signal in signals:
        if current is None or signal.start - current.end > _GAP:
            current = Cluster(signal.start, signal.end)
            clusters.append(current)
        current.add(signal)
    return clusters


def is_injection(cluster: Cluster, bonus: float = 0.0) -> bool:
    """Enough weight, and at least one cue that addresses the model itself."""
    return cluster.aimed_at_model and cluster.score + bonus >= THRESHOLD
