"""Structured credentials recognised by their framing: PEM / OpenSSH / PuTTY private keys and JWTs.

Their framing is public (``-----BEGIN ... PRIVATE KEY-----``, ``eyJ``), so each is validated before it
counts: a key block needs a real body (docs elide it), a JWT's header must decode to JSON naming an
``alg`` and carry a signature. Public keys and certificates never match: only PRIVATE labels do.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Final

from middleware.guardrails.detectors.secrets_providers import RANK_PROVIDER, Candidate
from middleware.guardrails.detectors.secrets_values import is_placeholder

_PEM_BEGIN: Final = re.compile(r"-{4,5} ?BEGIN ((?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?) ?-{4,5}")
_BODY_ONLY: Final = re.compile(r"[A-Za-z0-9+/=\s\\]{0,20000}")
_BASE64_CHAR: Final = re.compile(r"[A-Za-z0-9+/]")
_HEADER_LINE: Final = re.compile(r"^[A-Za-z-]+: .*$", re.MULTILINE)
_MAX_BLOCK: Final = 20000
_MIN_BODY: Final = 40
# How documentation shortens a key body; random base64 never contains these.
_ELISIONS: Final = ("...", "\u2026", "<", ">", "${", "{{", "redacted", "omitted", "truncated")
_PUTTY_HEADER: Final = 4000
_PUTTY_MAX_LINES: Final = 200
_PUTTY_LINES: Final = re.compile(r"Private-Lines: *(\d{1,4})")
_PUTTY_MAC: Final = re.compile(r"[ \t]*(?:\\r)?(?:\\n|\r?\n)Private-MAC: *[0-9a-fA-F]+")
_JWT: Final = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?"
)
_MIN_SIGNATURE: Final = 16
# A PEM block stored base64-encoded (kubeconfig ``client-key-data``, a Kubernetes Secret's ``tls.key``):
# base64 of "-----BEGIN " starts with this marker; only the first line is decoded to read the label.
BASE64_PEM_MARKER: Final = b"LS0tLS1CRUdJT"
_BASE64_RUN: Final = re.compile(r"LS0tLS1CRUdJT[A-Za-z0-9+/]{20,20000}={0,2}")
_ENCODED_LABEL: Final = 96  # base64 characters enough to decode the BEGIN line
_LINE_BACK: Final = 80


def _has_real_body(body: str) -> bool:
    """A key block in docs keeps its frame but elides the body; a leaked one carries the material."""
    if any(marker in body.lower() for marker in _ELISIONS):
        return False
    return len(_BASE64_CHAR.findall(_HEADER_LINE.sub("", body))) >= _MIN_BODY


def pem_candidate(text: str, hit: int) -> Candidate | None:
    """The private key block whose ``PRIVATE KEY`` label sits at ``hit``: BEGIN line to END line."""
    line_start = max(0, hit - _LINE_BACK)
    begin = _PEM_BEGIN.search(text, line_start, hit + 40)
    if begin is None:
        return None
    end_label = "END " + begin.group(1)
    end = text.find(end_label, begin.end(), begin.end() + _MAX_BLOCK)
    if end >= 0:
        body = text[begin.end() : end].rstrip("- ")
        stop = end + len(end_label)
        while stop < len(text) and stop < end + len(end_label) + 6 and text[stop] in "- ":
            stop += 1
    else:
        body_match = _BODY_ONLY.match(text, begin.end())
        assert body_match is not None  # a bounded star always matches
        body, stop = body_match.group(), body_match.end()
    if not _has_real_body(body):
        return None
    return Candidate(begin.start(), stop, "private_key", RANK_PROVIDER)


def encoded_pem_candidate(text: str, hit: int) -> Candidate | None:
    """A base64-encoded private key block at ``hit``: the encoded run counts as the key itself."""
    match = _BASE64_RUN.match(text, hit)
    if match is None or len(match.group()) < _MIN_BODY * 2:
        return None
    head = match.group()[:_ENCODED_LABEL]
    try:
        decoded = base64.b64decode(head[: len(head) - len(head) % 4]).decode("ascii", "replace")
    except (binascii.Error, ValueError):
        return None
    first_line = decoded.split("\n", 1)[0]
    if _PEM_BEGIN.match(first_line) is None:
        return None
    return Candidate(hit, match.end(), "private_key", RANK_PROVIDER)


def putty_candidate(text: str, hit: int) -> Candidate | None:
    """A PuTTY ``.ppk`` file: its ``Private-Lines`` block (and MAC) is the secret half; ``hit`` is the
    offset of ``Private-Lines:`` and the span starts at the file's first line."""
    header = text.rfind("PuTTY-User-Key-File-", max(0, hit - _PUTTY_HEADER), hit)
    count = _PUTTY_LINES.match(text, hit)
    if header < 0 or count is None or int(count.group(1)) > _PUTTY_MAX_LINES:
        return None
    position = count.end()
    body_start = position
    for _ in range(int(count.group(1))):
        newline = text.find("\n", position + 1)
        position = len(text) if newline < 0 else newline
    mac = _PUTTY_MAC.match(text, position)
    stop = mac.end() if mac else position
    if not _has_real_body(text[body_start:position]):
        return None
    return Candidate(header, stop, "private_key", RANK_PROVIDER)


def _b64url_json(part: str) -> object:
    """Decode one JWT segment; ``None`` when it is not base64url JSON."""
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError):
        return None


def jwt_candidate(text: str, start: int) -> Candidate | None:
    """A signed JWT (or JWE) starting at ``start``: header is JSON with ``alg``, signature present."""
    match = _JWT.match(text, start)
    if match is None:
        return None
    parts = match.group().split(".")
    header = _b64url_json(parts[0])
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        return None
    if len(parts) == 3 and (len(parts[2]) < _MIN_SIGNATURE or is_placeholder(parts[2])):
        return None
    return Candidate(start, match.end(), "jwt", RANK_PROVIDER)


def decode_basic(value: str) -> tuple[str, str] | None:
    """``user:password`` inside an HTTP Basic credential, or ``None`` if it does not decode to one."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon and decoded.isprintable() else None
