"""Payloads a human cannot read but a model can: base64, hex, ROT13, URL-encoding, tag characters.

Each candidate is decoded (bounded in count and size) and handed back to the detector to rescan;
only text that decodes to readable words is kept, so hashes, ids and binary blobs cost one failed
decode and nothing more.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

import re2

from middleware.guardrails.detectors.injection_anchors import char_spans
from middleware.guardrails.detectors.unicode import InvisibleRun

# One pass finds both: hex digits are a subset of the base64 alphabet.
_OPAQUE_RUN = re2.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}")  # RE2: a class-led scan, 20x faster than re
_HEX_ONLY = re.compile(r"(?:[0-9a-fA-F]{2})+")
# Whole words may sit between escapes ("assistant%3A%20ignore%20all"): six escapes, words up to 24.
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}(?:[^\s%\"'<>]{0,24}%[0-9a-fA-F]{2}){5,}[^\s\"'<>]{0,200}")
_HEX_ESCAPES = re.compile(r"(?:\\{1,2}x[0-9a-fA-F]{2}){12,}")  # "\x41\x49..." in a source string
# Words of an injection as they read in ROT13 (ignore, previous, instructions, assistant, disregard,
# system prompt): ROT13 text with no "rot13" cue is decoded only around them.
_ROT13_WORDS = re2.compile(r"vtaber|cerivbhf|vafgehpgvbaf|nffvfgnag|qvfertneq|flfgrz cebzcg")
_ROT13_CUE = re2.compile(r"rot-?[\s\v\x1c-\x1f\x85\pZ]?13|caesar|rot 13")
_CUE_WORDS = re2.compile(r"base64|decode|b64|encoded|hex|rot|caesar|cipher|%")
_MAX_CANDIDATES = 32
_MAX_DECODED = 20_000
_ROT13_REACH = 2000


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded payload and where its encoded form sits in the scanned text."""

    start: int
    end: int
    text: str
    scheme: str


def readable(decoded: str) -> bool:
    """Mostly letters and spaces, with several words: natural language rather than binary or ids."""
    if len(decoded) < 12 or decoded.count(" ") < 3:
        return False
    printable = sum(1 for char in decoded if char.isprintable() or char in "\n\t")
    letters = sum(1 for char in decoded if char.isalpha() or char == " ")
    return printable >= 0.97 * len(decoded) and letters >= 0.6 * len(decoded)


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _from_base64(candidate: str) -> str | None:
    padded = candidate + "=" * (-len(candidate) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _utf8(raw)


def _from_hex(candidate: str) -> str | None:
    try:
        return _utf8(bytes.fromhex(candidate))
    except ValueError:
        return None


def _may_hold_payload(lowered: str) -> bool:
    """Long texts are decoded only when they mention an encoding: keeps 1 MB scans linear and cheap."""
    return len(lowered) <= 65_536 or _CUE_WORDS.search(lowered) is not None


def iter_decoded(text: str, lowered: str) -> Iterator[Decoded]:
    """Readable payloads hidden in base64, hex, URL-encoding, or ROT13 (the latter only with a cue)."""
    if not _may_hold_payload(lowered):
        return
    for budget, (start, end) in enumerate(char_spans(_OPAQUE_RUN, text)):
        if budget >= _MAX_CANDIDATES:
            break
        candidate = text[start : min(end, start + _MAX_DECODED)]
        if candidate[:2] in ("0x", "0X"):  # a hex literal: 0x4149...
            candidate = candidate[2:]
        is_hex = len(candidate) >= 40 and _HEX_ONLY.fullmatch(candidate) is not None
        decoded = _from_hex(candidate) if is_hex else _from_base64(candidate)
        if decoded is not None and readable(decoded):
            yield Decoded(start, end, decoded, "hex" if is_hex else "base64")
    if "%" in text:
        for match in _PERCENT.finditer(text):
            decoded = unquote(match.group()[:_MAX_DECODED])
            if readable(decoded):
                yield Decoded(match.start(), match.end(), decoded, "url")
    yield from _escaped_and_rotated(text, lowered)


def _escaped_and_rotated(text: str, lowered: str) -> Iterator[Decoded]:
    """``\\x``-escaped bytes, and ROT13 after a cue or around ROT13-spelled injection words."""
    if "\\x" in text:
        for match in _HEX_ESCAPES.finditer(text):
            decoded = _from_hex(match.group().replace("\\", "").replace("x", ""))
            if decoded is not None and readable(decoded):
                yield Decoded(match.start(), match.end(), decoded, "hex")
    cue = _ROT13_CUE.search(lowered)
    if cue is not None:
        start = cue.end()
    else:
        word = _ROT13_WORDS.search(lowered)
        if word is None:
            return
        start = max(0, word.start() - _ROT13_REACH // 4)
    end = min(len(text), start + _ROT13_REACH)
    yield Decoded(start, end, codecs.encode(text[start:end], "rot13"), "rot13")


@dataclass(frozen=True, slots=True)
class HiddenRun:
    """Invisible characters worth reporting on their own, with what they spell if anything."""

    start: int
    end: int
    payload: str


def hidden_payloads(text: str, runs: Sequence[InvisibleRun]) -> list[HiddenRun]:
    """Tag-character text and variation-selector byte runs (of ``runs``): never legitimate outside emoji."""
    found = []
    for run in runs:
        chunk = text[run.start : run.end]
        payload = "".join(chr(ord(char) - 0xE0000) for char in chunk if 0xE0000 <= ord(char) < 0xE007F)
        if sum(char.isalnum() for char in payload) >= 3:
            found.append(HiddenRun(run.start, run.end, payload))
        elif run.family == "variation" and run.end - run.start >= 4:
            found.append(HiddenRun(run.start, run.end, ""))
    found.extend(_interleaved(text, runs))
    return found


_INTERLEAVED = 12  # invisible marks each separating one or two visible characters


def _interleaved(text: str, runs: Sequence[InvisibleRun]) -> Iterator[HiddenRun]:
    """A mark between every letter ("I\u200bg\u200bn...") hides words from filters; no script needs it."""
    first = previous = None
    count = 0
    for run in (*runs, None):
        gap = text[previous.end : run.start] if previous is not None and run is not None else ""
        if run is not None and 0 < len(gap) <= 2 and all(char < "\u2000" for char in gap):
            count += 1
        else:
            if first is not None and previous is not None and count >= _INTERLEAVED:
                yield HiddenRun(first.start, previous.end, "")
            first, count = run, 0
        previous = run
