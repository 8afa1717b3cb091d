"""Judge one string of a tool definition: add up weighted signals, decide, and name the kind.

Why a score and not a keyword list: honest descriptions say "IMPORTANT", mention ~/.ssh or tell the
model to call a sibling tool first. What makes a description poisoned is a combination: something
the attacker wants done (send data out, fill a parameter with secrets, hide it from the user,
redirect a payment) plus what it wants or how it insists. A few signals decide alone (role markers,
install-and-run, "ignore previous instructions", lying about results).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from middleware.guardrails.detectors.poisoning_engine import compile_re2, encode, has_match
from middleware.guardrails.detectors.poisoning_fragments import Signal
from middleware.guardrails.detectors.poisoning_scan import Scan, Views, collect

META_EXTRA = 2  # a security tool that talks ABOUT injection or secrets must show more evidence
# Wrapper kinds say how the instruction was hidden; they win over what it asks for.
_KIND_ORDER = (
    "role_marker",
    "remote_code",
    "multilingual",
    "shadowing",
    "preference",
    "sleeper",
    "important_tag",
    "exfil_param",
    "conceal",
    "hidden_instruction",
)
# Context signals that say how the instruction is dressed, and so may name the kind.
_NAMING_CONTEXT = ("pseudo_tag", "important", "shadow_trigger", "role_json")
# Descriptions of security tools: detectors, scanners, classifiers of injection or secrets.
_META = compile_re2(
    r"\b(?:detect|scan|classif|flag|identif|screen|audit|analy[sz]|redact|mask)\w*\b[^.\n]{0,80}?"
    r"\b(?:injections?|jailbreaks?|secrets?|credentials?|leak\w*|malicious|phishing|poison\w*|attacks?|exfiltration"
    r"|compromise\w*)\b|\b(?:render|format|debug|apply|tokeni[sz])\w*\b[^.\n]{0,80}?\bchat[\s-]+templates?\b",
    ignore_case=False,
)
_QUOTED = re.compile(r"\"[^\"\n]{0,200}\"|'[^'\n]{2,200}'|\u201c[^\u201d\n]{0,200}\u201d|`[^`\n]{0,200}`")
_PADDING = compile_re2(r"(?:[ \t]*\n){12}|[ \t\u00a0\u3000]{60}", ignore_case=False)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why one string is poisoned: its kind and a reason that never quotes it."""

    kind: str
    reason: str
    score: int


def _unquoted(views: Views) -> Views:
    """Quoted examples inside a security tool's description are its subject, not instructions."""
    return Views(_QUOTED.sub(" ", views.cased), _QUOTED.sub(" ", views.plain), _QUOTED.sub(" ", views.folded))


def _kind(found: dict[str, Signal]) -> str:
    naming = ("strong", "intent")
    kinds = {sig.kind for sig in found.values() if sig.klass in naming or sig.group in _NAMING_CONTEXT}
    for kind in _KIND_ORDER:
        if kind in kinds:
            return kind
    return "hidden_instruction"


def _reason(found: dict[str, Signal]) -> str:
    ranked = sorted(found.values(), key=lambda sig: (-sig.weight, sig.group))
    reasons: list[str] = []
    for sig in ranked:
        if sig.reason not in reasons and sig.klass != "context":
            reasons.append(sig.reason)
    return "; ".join(reasons[:3]) or ranked[0].reason


def decide(found: dict[str, Signal], meta: bool) -> Verdict | None:
    """Flag on a strong signal, or on a firm intent backed by what it targets or by enough context.

    Intent plus target must reach 4 (e.g. "send ... to https://..." and "the conversation"); with
    context (IMPORTANT, addressed to the AI, every call) the total must reach 5, so honest usage
    guidance ("IMPORTANT: call read_file first") never gets there.
    """
    if not found:
        return None
    weights = {"strong": 0, "intent": 0, "target": 0, "context": 0}
    for sig in found.values():
        weights[sig.klass] += sig.weight
    intent = weights["strong"] + weights["intent"]
    score = intent + weights["target"] + weights["context"]
    extra = META_EXTRA if meta else 0
    decided = weights["strong"] > 0 and not meta
    firm = max((sig.weight for sig in found.values() if sig.klass in ("strong", "intent")), default=0) >= 2
    if decided or (firm and (intent + weights["target"] >= 4 + extra or score >= 5 + extra)):
        return Verdict(_kind(found), _reason(found), score)
    return None


def judge(scan: Scan) -> Verdict | None:
    """Score text that is already scanned; a security tool's quoted examples are ignored."""
    meta = scan.has_meta_word and has_match(_META, scan.folded)
    if meta:
        scan = Scan(_unquoted(scan.views))
    return decide(collect(scan), meta)


def has_padding(text: str) -> bool:
    """Long runs of blank lines or spaces, or one filler sentence repeated, push text out of view."""
    if has_match(_PADDING, encode(text)):
        return True
    if len(text) < 400:
        return False
    sentences = [part.strip() for part in text.split(". ") if len(part.strip()) > 15]
    return len(sentences) - len(set(sentences)) >= 4
