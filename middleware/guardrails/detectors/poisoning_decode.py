"""Payloads a reviewer cannot read: base64, hex (bare or \\x-escaped), ROT13, URL-encoding, invisibles.

We decode a bounded number of candidates and hand the plain text back to the scorer: an encoded
blob is only poisoning when what it decodes to is an instruction, or when the description tells the
model to decode and follow it. Hashes, ids and images decode to binary and are ignored.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from urllib.parse import unquote

from middleware.guardrails.detectors.poisoning_engine import compile_re2, encode, has_match
from middleware.guardrails.detectors.unicode import InvisibleRun, decode_tags

MAX_CANDIDATES = 8  # per string: a schema full of ids must not cost more than a few decodes
MAX_BLOB = 8192  # characters of one candidate we are willing to decode
_BASE64 = compile_re2(r"[A-Za-z0-9+/_-]{24,}={0,2}", ignore_case=False)
_HEX = compile_re2(r"\b(?:[0-9a-fA-F]{2}){16,}\b", ignore_case=False)
_ESCAPED_HEX = compile_re2(r"(?:\\x[0-9a-fA-F]{2}){8,}", ignore_case=False)
_PERCENT = compile_re2(r"(?:%[0-9A-Fa-f]{2}[^%\s]{0,24}){4}", ignore_case=False)
ROT13_HINTS = ("rot13", "rot-13", "rot 13", " gur ", "vafgehpgvba", " lbh ", " naq ")
_DECODE_CUE = compile_re2(
    r"\b(?:decod|base64|b64|hex|rot-?13|encoded|decipher|deobfuscat)\w*\b[^\n]{0,60}?\b(?:follow|execute|obey|run"
    r"|apply|comply|do\s+what|carry\s+out|instructions?|config)\b",
)
_WORDS = re.compile(r"[A-Za-z]{2,}")


def _readable(data: bytes) -> str | None:
    """Decoded bytes that are mostly printable text with several words, else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    printable = sum(1 for char in text if char.isprintable() or char in "\n\t")
    if printable < 0.9 * len(text) or len(_WORDS.findall(text)) < 3 or " " not in text:
        return None
    return text


def _from_base64(blob: str) -> str | None:
    body = blob.rstrip("=")
    if len(body) % 4 == 1 or not (
        any(c.isdigit() or c.isupper() for c in body) and any(c.islower() for c in body)
    ):
        return None
    padded = body + "=" * (-len(body) % 4)
    try:
        data = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _readable(data)


def _from_hex(blob: str) -> str | None:
    try:
        return _readable(bytes.fromhex(blob))
    except ValueError:
        return None


def _from_escaped_hex(blob: str) -> str | None:
    return _from_hex(blob.replace("\\x", ""))


def decoded_payloads(text: str) -> list[tuple[str, bool]]:
    """Readable texts hidden in the string by a common encoding (bounded in number and size).

    Each comes with whether it was an opaque blob (base64, hex): only those make a "decode and
    follow" cue suspicious on its own.
    """
    data = encode(text)
    found: list[tuple[str, bool]] = []
    for pattern, decode in ((_BASE64, _from_base64), (_HEX, _from_hex), (_ESCAPED_HEX, _from_escaped_hex)):
        for count, match in enumerate(pattern.finditer(data)):
            if count >= MAX_CANDIDATES:
                break
            plain = decode(match.group()[:MAX_BLOB].decode("ascii"))
            if plain:
                found.append((plain, True))
    if has_match(_PERCENT, data):
        found.append((unquote(text[: MAX_BLOB * 4]), False))
    lowered = text.lower()
    if any(hint in lowered for hint in ROT13_HINTS):
        found.append((codecs.encode(text[: MAX_BLOB * 4], "rot13"), False))
    return found


def has_decode_cue(text: str) -> bool:
    """The text tells the model to decode something and act on it."""
    return has_match(_DECODE_CUE, encode(text))


def invisible_alarm(text: str, runs: list[InvisibleRun], is_identifier: bool) -> str | None:
    """Why the invisible characters in the text look like smuggling, or None if they look benign.

    Tag characters always hide text. Zero-width marks between ASCII letters split keywords; in
    Devanagari or Persian they shape the script, so only marks touching ASCII count.
    """
    if not runs:
        return None
    if any(run.family == "tag" for run in runs) and len(decode_tags(text).strip()) >= 4:
        return "hides text in invisible Unicode tag characters"
    if is_identifier:
        return "contains invisible characters in an identifier"
    splitting = 0
    for run in runs:
        before = text[run.start - 1] if run.start else " "
        after = text[run.end] if run.end < len(text) else " "
        if before.isascii() and after.isascii():
            splitting += 1
    hidden_chars = sum(run.end - run.start for run in runs)
    if splitting >= 2 or hidden_chars >= 16:
        return "hides text with invisible zero-width or bidi characters"
    return None
