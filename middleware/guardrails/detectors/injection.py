"""Prompt injection in tool results and resource contents: instructions aimed at the model.

``find_injection`` reports each injected passage with one of these kinds:

- ``override``: tells the model to drop its instructions or task ("ignore all previous instructions").
- ``role_marker``: fake chat-template turns (``<|im_start|>system``, ``[INST]``, ``<system>``,
  ``"role": "system"``, ``### System:``, ``Human:``) wrapping instructions.
- ``tool_hijack``: asks the model to call tools, run commands or send data somewhere.
- ``conceal``: tells the model to keep something from the user.
- ``authority``: claims to come from the system, the developer or an administrator.
- ``phishing``: makes the model tell the user to hand over credentials.
- ``invisible_unicode``: text hidden in tag characters, variation selectors or zero-width marks.
- ``encoded``: base64, hex, URL-encoded or ROT13 text that decodes to instructions.
- ``homoglyph``: instructions spelled with look-alike letters from other scripts.
- ``md_exfil``: a markdown/HTML image or link whose URL carries conversation data to a host.
- ``html_hidden``: instructions in HTML comments, hidden elements or alt text.
- ``multilingual``: instructions in another language (es, fr, de, it, pt, nl, ru, zh, ja, ko, ar, hi,
  tr, pl).

``neutralise`` is what the gateway forwards in "flag" mode: invisible characters stripped and
data-carrying links to hosts not allowed made inert; anything else is left byte-identical.

Cost (p50 CPU, one text, shared 2-core machine): the cue rules are not run over the whole text; one
RE2 pass finds their anchors and each rule runs only around its own (``injection_anchors``).
Text with nothing to find: 14 us per 1 KB of prose, JSON, logs or code (22 us Markdown, 46 us the
corpus' hard negatives, was 27-31 before the third-person cues of ``injection_indirect``) and 4 ms
per 1 MB (12 ms Markdown, ~70 ms 1 MB of the hard negatives, was 54 on the same machine; they are
full of near-misses); was 130-215 us and 100-350 ms. Dense with injections (1 MB of the
corpus' positives, ~1700 findings): 200 us per 1 KB, 230 ms per 1 MB (was 740 us, 760 ms).
Adversarial 200 KB inputs (anchor floods, invisible-character floods, padding): under 0.5 s.
The fourth probe batch's cues (role-named vocatives, uncued ROT13/``\\x``/percent payloads, fullwidth
folding, letter-interleaved marks) cost 5-15 % more on no-finding text, measured side by side.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection
from itertools import accumulate

from middleware.guardrails.detectors.findings import Finding
from middleware.guardrails.detectors.injection_decode import hidden_payloads, iter_decoded
from middleware.guardrails.detectors.injection_links import hidden_regions, neutralise_links
from middleware.guardrails.detectors.injection_score import Cluster, clusters_of, is_injection, signals_of
from middleware.guardrails.detectors.injection_view import View, expand_to_sentence, kind_of
from middleware.guardrails.detectors.unicode import strip_invisible

_MAX_DEPTH = 2
_HIDDEN_BONUS = 1.0  # text a reader cannot see needs one cue less to count
_DELIVERY_KINDS = frozenset({"encoded", "invisible_unicode"})

REASONS = {
    "override": "The text tells the model to abandon its instructions or task.",
    "role_marker": "The text fakes a system or assistant turn with chat-template markers.",
    "tool_hijack": "The text asks the model to call tools, run commands or send data.",
    "conceal": "The text tells the model to hide what it does from the user.",
    "authority": "The text claims system, developer or administrator authority over the model.",
    "phishing": "The text makes the model ask the user for credentials on an outside site.",
    "invisible_unicode": "The text hides content in invisible Unicode characters.",
    "encoded": "The text carries an encoded payload that decodes to instructions for the model.",
    "homoglyph": "The text spells instructions for the model with look-alike letters.",
    "md_exfil": "The text builds a link or image that would send conversation data to an outside host.",
    "html_hidden": "The text hides instructions for the model in HTML a reader does not see.",
    "multilingual": "The text gives the model instructions in another language.",
}


def _finding(view: View, kind: str, start: int, end: int) -> Finding:
    original_start, original_end = view.to_original(start, end)
    return Finding("injection", kind, original_start, original_end, REASONS[kind])


class _Regions:
    """Spans (possibly nested) that answer "does one of you contain [start, end)?" in log time."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        spans.sort()
        self.starts = [start for start, _ in spans]
        self.reach = list(accumulate((end for _, end in spans), max))  # furthest end so far

    def cover(self, start: int, end: int) -> bool:
        index = bisect_right(self.starts, start) - 1
        return index >= 0 and self.reach[index] >= end


def _hidden(view: View) -> list[tuple[int, int]]:
    hidden = hidden_regions(view.visible)
    # A markdown image's alt text is unseen; the image itself (its URL) is judged as a link, not hidden.
    hidden.extend(
        (link.start + 2, link.start + 2 + len(link.text))
        for link in view.links
        if link.image and link.text and view.visible.startswith("![", link.start)
    )
    return hidden


def _passages(view: View) -> list[Finding]:
    """Clusters of cues in the readable text, each labelled by how it was hidden or what it asks."""
    candidates = [cluster for cluster in _clusters(view) if is_injection(cluster, _HIDDEN_BONUS)]
    hidden = _Regions(_hidden(view) if candidates else [])  # only looked for when it could tip the balance
    found = []
    for cluster in candidates:
        inside_hidden = hidden.cover(cluster.core_start, cluster.core_end)
        if not is_injection(cluster, _HIDDEN_BONUS if inside_hidden else 0.0):
            continue
        start, end = expand_to_sentence(view.scan, cluster.core_start, cluster.core_end)
        found.append(_finding(view, kind_of(cluster, view, inside_hidden), start, end))
    return found


def _decodes_to_injection(decoded: str, depth: int) -> bool:
    if depth >= _MAX_DEPTH:
        return False
    inner = View.of(decoded)
    return any(is_injection(cluster) for cluster in _clusters(inner)) or bool(_encoded(inner, depth + 1))


def _clusters(view: View) -> list[Cluster]:
    return clusters_of(signals_of(view.scan, view.native, view.links))


def _encoded(view: View, depth: int) -> list[Finding]:
    """Encoded runs that decode to instructions, or to readable text right after a decode cue."""
    found = []
    for decoded in iter_decoded(view.visible, view.scan):
        cue_zone = view.scan[max(0, decoded.start - 160) : decoded.start]
        cued = any(word in cue_zone for word in ("decode", "base64", "hex", "rot", "encoded", "cipher"))
        plain = decoded.scheme in ("rot13", "url")  # readable words on their own: a cue is not enough
        if _decodes_to_injection(decoded.text, depth) or (cued and not plain):
            found.append(_finding(view, "encoded", decoded.start, decoded.end))
    return found


def _invisible(view: View) -> list[Finding]:
    return [
        Finding("injection", "invisible_unicode", run.start, run.end, REASONS["invisible_unicode"])
        for run in hidden_payloads(view.original, view.runs)
    ]


def _drop_nested(findings: list[Finding]) -> list[Finding]:
    """One finding per passage; an encoded or invisible payload inside it names the passage's kind."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda item: (item.start, -item.end)):
        if kept and kept[-1].start <= finding.start and finding.end <= kept[-1].end:
            if finding.kind in _DELIVERY_KINDS and kept[-1].kind not in _DELIVERY_KINDS:
                outer = kept[-1]
                kept[-1] = Finding("injection", finding.kind, outer.start, outer.end, REASONS[finding.kind])
            continue
        kept.append(finding)
    return kept


def find_injection(text: str, allowed_hosts: Collection[str] = ()) -> list[Finding]:
    """Injected instructions in a tool result or resource; spans point into ``text``.

    ``allowed_hosts`` is accepted for symmetry with :func:`neutralise`; exfiltration links are
    reported whatever their host, because the instruction around them is the attack.
    """
    if not text:
        return []
    view = View.of(text)
    findings = _invisible(view) + _passages(view) + _encoded(view, 0)
    return _drop_nested(findings)


def neutralise(text: str, allowed_hosts: Collection[str] = ()) -> str:
    """The text made safe to forward: invisible characters out, data-carrying foreign links inert.

    Returns ``text`` itself (the same object) when there is nothing to change.
    """
    visible = strip_invisible(text)
    if "](" not in visible and "<" not in visible:
        return visible
    return neutralise_links(visible, allowed_hosts)
