"""Tool poisoning: instructions for the model hidden in the definitions a server serves.

A tool's name, description and schema go straight into the model's context, so a malicious server
can steer the model before any tool is called: ask it to read ~/.ssh and pass the key in a
parameter, to BCC a stranger whenever another server's tool sends mail, to distrust the real
filesystem server, or to pose as that server's ``read_file`` with a Cyrillic letter a. We walk every
string of a definition (schemas at any depth, property names, enums, defaults, annotations,
_meta) and judge each with a weighted score. Findings carry no span (0, 0): the unit is the
definition, and the reason names the JSON path.

Kinds:
- ``hidden_instruction``: instructions to the model (override, consent forgery, send data out).
- ``important_tag``: the instruction sits in <IMPORTANT>/<system>/[[...]] pseudo-tags or shouts.
- ``invisible_unicode``: tag characters or zero-width marks hide text or split keywords.
- ``padding``: the instruction follows long blank padding or repeated filler.
- ``exfil_param``: a parameter is to be filled with credentials, files or conversation data.
- ``shadowing``: redefines how other tools or servers behave, or claims authority over them.
- ``conceal``: tells the model to hide actions from the user or lie about outcomes.
- ``role_marker``: chat-template role markers fake a system or assistant turn.
- ``encoded``: a base64/hex/ROT13/URL-encoded payload decodes to an instruction.
- ``multilingual``: the instruction is written in another language.
- ``name_confusable``: the name imitates another tool's (homoglyphs, mixed script, full-width).
- ``remote_code``: asks to install and run remote code or modify a shell profile.
- ``sleeper``: waits for a trigger word from the user to act.
- ``preference``: claims other tools are compromised or deprecated to steer the model to this one.
- ``oversized``: a string, or the definition as a whole, is far longer than any honest one; it is
  judged on its size alone, so a hostile server cannot make the gateway scan megabytes.

Cost (p50, shared 2-core machine; was 185 us, 0.6 ms and 1.4 s with ``re``): an honest corpus
definition (~430 chars of JSON) 33 us; 1 KB of honest description 13-41 us (dense with cues 70 us);
16 KB 0.1-1.4 ms; a longer string 0.1 ms (``oversized``, not scanned); a hostile definition (16 KB
strings of cue-word soup up to the work bound) 10-16 ms cold, less warm. The second probe set's
signals (``poisoning_lexicon_extra``) added 8-15 %; the third's (``poisoning_lexicon_more``) 2-9 %
(A/B on one machine: corpus definition 41 -> 45 us, 1 KB 35 -> 36 us, dense 1 KB 60 -> 63 us); the
fourth's (``poisoning_lexicon_fourth``) 4-16 % (corpus definition 43 -> 47 us, 1 KB 36 -> 41 us,
dense 1 KB 63 -> 65 us, 16 KB 0.24 -> 0.27 ms).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from middleware.guardrails.detectors.findings import Finding
from middleware.guardrails.detectors.poisoning_decode import decoded_payloads, has_decode_cue, invisible_alarm
from middleware.guardrails.detectors.poisoning_scan import Scan, views_of
from middleware.guardrails.detectors.poisoning_score import has_padding, judge
from middleware.guardrails.detectors.unicode import (
    has_lookalikes,
    invisible_runs,
    is_mixed_script,
    to_skeleton,
)

DETECTOR = "poisoning"
MIN_SCORED = 12  # "string", "object", "repo_path": shorter than the shortest instruction we score
MAX_DEPTH = 64  # deeper nesting is not a schema anyone writes; stop walking rather than recurse forever
# Bounds that keep a hostile definition under ~60 ms, paid once (verdicts are cached; a scanned
# character costs up to ~0.4 us when crafted to be dense with cue words); honest definitions, even
# with an enum of every IANA time zone, stay far below them.
MAX_STRING = 16 * 1024  # characters of one string
MAX_WORK = 128 * 1024  # characters scored per definition, each scored string charged STRING_COST more
STRING_COST = 16  # the fixed cost of scoring one string, in characters
MAX_STRINGS = 10_000  # strings (property names included) walked per definition, scored or not


def _judge_text(text: str, is_identifier: bool = False) -> tuple[str, str] | None:
    """The kind and reason if the text carries an instruction for the model, else None."""
    if len(text) > MAX_STRING:
        return "oversized", f"is {len(text) // 1024} KB long, far beyond an honest description; not scanned"
    runs = invisible_runs(text)
    alarm = invisible_alarm(text, runs, is_identifier)
    if alarm is not None:
        return "invisible_unicode", alarm
    if len(text) < MIN_SCORED:
        return None
    scan = Scan(views_of(text.replace("_", " ").replace("-", " ") if is_identifier else text, bool(runs)))
    verdict = judge(scan)
    if verdict is not None:
        if has_padding(text):
            return "padding", "hides an instruction after long padding: " + verdict.reason
        return verdict.kind, verdict.reason
    return _judge_encoded(scan.views.cased) if scan.may_be_encoded else None


def _judge_encoded(text: str) -> tuple[str, str] | None:
    """Decode bounded candidates and rescan; an encoded blob with 'decode and follow' is enough."""
    for payload, is_blob in decoded_payloads(text):
        inner = judge(Scan(views_of(payload)))
        if inner is not None:
            return "encoded", "hides an encoded instruction that " + inner.reason
        if is_blob and has_decode_cue(text):
            return "encoded", "tells the model to decode a hidden payload and follow it"
    return None


def _strings(value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, str, bool]]:
    """Every string of a JSON value with its path; keys are yielded too, marked as identifiers."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        yield path, value, False
    elif isinstance(value, Mapping):
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else str(key)
            if isinstance(key, str):
                yield child_path + " (name)", key, True
            yield from _strings(child, child_path, depth + 1)
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            yield from _strings(child, f"{path}[{index}]", depth + 1)


def _compat_key(name: str) -> str:
    return to_skeleton(unicodedata.normalize("NFKC", name)).casefold()


def _imitates(name: str, others: Collection[str]) -> bool:
    """Another served name looks the same (same skeleton, case-folded, also after NFKC) yet differs.

    ASCII names, nearly all of them, skip the Unicode work: their skeleton is themselves. An ASCII
    name is never the imitation of a non-ASCII one: the look-alike is the spoof (and is flagged).
    """
    plain = to_skeleton(name).casefold()
    compat = _compat_key(name)
    ascii_name = name.isascii()
    for other in others:
        if other == name or (ascii_name and not other.isascii()):
            continue
        if other.isascii():
            if other.casefold() in (plain, compat):
                return True
        elif plain == to_skeleton(other).casefold() or compat == _compat_key(other):
            return True
    return False


def _name_spoof(name: str, others: Collection[str]) -> str | None:
    """Why the tool's name imitates another's, or None."""
    if _imitates(name, others):
        return "looks like the name of another served tool but uses different characters"
    if not name.isascii() and unicodedata.normalize("NFKC", name).isascii():
        return "uses full-width or compatibility characters that imitate an ASCII name"
    has_ascii_letter = any(char.isascii() and char.isalpha() for char in name)
    if has_lookalikes(name) and (has_ascii_letter or is_mixed_script(name)):
        return "mixes look-alike letters from another script into the name"
    return None


def _finding(kind: str, path: str, why: str) -> Finding:
    return Finding(detector=DETECTOR, kind=kind, start=0, end=0, reason=f"{path}: {why}")


def find_poisoning(definition: Mapping[str, Any], other_tool_names: Collection[str] = ()) -> list[Finding]:
    """Findings for one tool (or prompt/resource) definition as served by a list call.

    ``other_tool_names`` are the other tools the gateway serves; an equal name is no collision
    (names are prefixed per server), a look-alike one is.
    """
    findings: list[Finding] = []
    name = definition.get("name")
    if isinstance(name, str):
        spoof = _name_spoof(name, other_tool_names)
        if spoof is not None:
            findings.append(_finding("name_confusable", "name", spoof))
    work = 0
    for count, (path, text, is_key) in enumerate(_strings(definition, "")):
        work += len(text) + STRING_COST if len(text) >= MIN_SCORED else 0
        if count >= MAX_STRINGS or work > MAX_WORK:
            findings.append(_finding("oversized", path, "the definition is far larger than any honest one"))
            break
        verdict = _judge_text(text, is_key or path == "name")
        if verdict is not None:
            findings.append(_finding(verdict[0], path, verdict[1]))
    return findings


def find_instructions_in_server_text(text: str) -> list[Finding]:
    """The same judgement for a server's ``instructions`` or a prompt/resource description."""
    verdict = _judge_text(text)
    if verdict is None:
        return []
    return [Finding(detector=DETECTOR, kind=verdict[0], start=0, end=len(text), reason=verdict[1])]
