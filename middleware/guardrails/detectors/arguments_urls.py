"""Reading URLs out of a tool argument the way the most lenient client would: every ``scheme:/``
(and ``=//`` of a parameter), the host strings any parser could take, and a fast path for the
plain ``https://host/...`` URLs that make up most of ordinary text.

Kept apart from the SSRF verdicts (arguments_ssrf) so each module stays small.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from middleware.guardrails.detectors.arguments_hosts import PLAIN_HOST
from middleware.guardrails.detectors.arguments_text import fold_unicode, percent_decode

SCHEME_COLON = re.compile(r"[:=](?=[/\\])")
_SCHEME_BEFORE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,15}$")
_MAX_URL_READ: Final = 2048  # enough for any authority; keeps long tokens linear
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_AUTHORITY_END = re.compile(r"[/\\?#\s\"'<>`]")
_LOOSE_AUTHORITY_END = re.compile(r"[/\\\s\"'<>`]")
_SLASH_AUTHORITY_END = re.compile(r"[/?#\s\"'<>`]")
_TOKEN_END = re.compile(r"[\s\"'<>`]")
_PORT = re.compile(r":\d{0,5}$")
# The common URL shape ``http(s)|ws(s)|ftp://host[:port]``, whose authority cannot hide a second
# host (no ``@`` before the loose end, no backslash, no percent or non-ASCII): its host alone decides
# it, so it is judged without the lenient re-parsing. Trailing prose punctuation is what the host
# normaliser strips anyway.
_PLAIN_TAIL = (
    r"([A-Za-z0-9.-]{1,253}+)(?::\d{1,5}+|[.,;!)}]*+)"
    r"(?=[/\s\"'<>`]|\Z|[?#][^/\\\s\"'<>`@]*+(?:[/\\\s\"'<>`]|\Z))"
)


def _plain_schemes(after: str) -> str:
    """Lookbehinds: a plain scheme and ``after``, not glued to another scheme or word, end here."""
    schemes = ("https", "http", "wss", "ws", "ftp")
    return "|".join(rf"(?<!(?i:[A-Za-z0-9+.:-]{s}){after})(?<=(?i:{s}){after})" for s in schemes)


# Every ``:/``, ``:\``, ``=/``, ``=\`` (what the colon scan finds), with the host when the URL is
# plain; an empty string marks the others. A plain host still has to be plainly public.
_URL_HIT = re.compile(r"[:=](?=[/\\])(?:(?:" + _plain_schemes(":") + r")//" + _PLAIN_TAIL + "|)")
# The same plain URLs, found from the literal ``://`` (a far faster scan than for ``[:=]``), and
# the two-character hits counted the same way: when the counts agree, every hit is a plain URL.
_PLAIN_URL = re.compile(r"://(?:" + _plain_schemes("://") + r")" + _PLAIN_TAIL)
_HIT_PAIRS = (re.compile(":/"), re.compile("=/"))
_BACKSLASH_HIT_PAIRS = (re.compile(r":\\"), re.compile(r"=\\"))
# Over "//host" lines: the host without trailing dots when plainly public, else empty.
_PLAINLY_PUBLIC = re.compile("//(?:(" + PLAIN_HOST + r")\.*+|[^\n]*+)(?:\n|\Z)")


def normalise_host(raw: str) -> str:
    """Decode and fold a host the way a lenient client would, then drop port and trailing dot."""
    host = fold_unicode(percent_decode(raw)).strip().lower()
    host = _AUTHORITY_END.split(host, 1)[0]
    host = host.rsplit("@", 1)[-1]
    if host.startswith("["):
        host = host[: host.find("]") + 1] if "]" in host else host
    elif ":" in host:
        host = _PORT.sub("", host)
    return host.rstrip(".,;!?)}")  # trailing prose or Markdown punctuation: "(see http://x/)."


def host_candidates(after_scheme: str) -> list[tuple[str, bool]]:
    """Every string some URL parser could take as the host of ``scheme:<after_scheme>``, each
    with whether it is really the userinfo part (``http://127.0.0.1@evil.example/``)."""
    rest = after_scheme.lstrip("/\\")
    strict = _AUTHORITY_END.split(rest, 1)[0]
    raw = [(strict.rsplit("@", 1)[-1], False)]
    if "@" in strict:
        raw.append((strict.rsplit("@", 1)[0].split(":", 1)[0], True))
    for pattern in (_LOOSE_AUTHORITY_END, _SLASH_AUTHORITY_END) if "@" in rest else ():  # "#@h", "\@h"
        loose = pattern.split(rest, 1)[0]
        if "@" in loose and loose != strict:
            raw.append((loose.rsplit("@", 1)[-1], False))
    normalised = [(normalise_host(host), userinfo) for host, userinfo in raw]
    return [(host, userinfo) for host, userinfo in normalised if host]


def has_authority(rest: str) -> bool:
    """``//host`` (or a backslash variant browsers accept): a single slash is a path, not a host."""
    return len(rest) >= 2 and rest[0] in "/\\" and rest[1] in "/\\"


Span = tuple[int, int, str, str]


class TokenEnds:
    """Token ends found once per token: URLs nested in one long token share its end, and looking it
    up again for each would make a token full of ``:/`` quadratic."""

    __slots__ = ("_end", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._end = -1

    def at(self, position: int) -> int:
        if self._end < position:
            found = _TOKEN_END.search(self._text, position)
            self._end = found.start() if found else len(self._text)
        return self._end


def spans_at(text: str, position: int, end: int) -> Iterator[Span]:
    """(start, end, scheme, text after ``scheme:``) for the URL(s) whose ``:`` or ``=`` is at
    ``position``: none, one, or two for a nested ``jar:http://``."""
    if text[position] == "=":  # next=//host: a protocol-relative URL in a parameter
        yield position + 1, end, "", text[position + 1 : min(end, position + _MAX_URL_READ)]
        return
    scheme = _SCHEME_BEFORE.search(text, max(0, position - 16), position)
    if scheme is None:
        return
    start = scheme.start()
    if start > 0 and text[start - 1] in _SCHEME_CHARS:
        return
    yield start, end, scheme.group(0).lower(), text[position + 1 : min(end, position + _MAX_URL_READ)]
    if start > 0 and text[start - 1] == ":":  # jar:http://..., netdoc:file:/...
        outer = _SCHEME_BEFORE.search(text, max(0, start - 17), start - 1)
        if outer is not None:
            yield outer.start(), end, outer.group(0).lower(), text[start : min(end, start + _MAX_URL_READ)]


def url_spans(text: str) -> Iterator[Span]:
    """Every URL-looking token, in order."""
    ends = TokenEnds(text)
    for colon in SCHEME_COLON.finditer(text):
        yield from spans_at(text, colon.start(), ends.at(colon.start()))


PlainHosts = dict[str, str]  # raw host -> its normalised form if plainly public, else ""


def plain_hits(text: str, known: PlainHosts) -> tuple[list[str], set[str]]:
    """The URL hits of ``text`` in order, each the raw host of a plain URL or "" for any other hit
    (to be parsed in full); and the set of those raw hosts. New ones are checked into ``known``.

    Hosts are checked once each, all in one pass: texts repeat their hosts far more than they vary,
    and the decoded view of a text repeats those of the raw one.
    """
    found = _PLAIN_URL.findall(text)
    pairs = _HIT_PAIRS + _BACKSLASH_HIT_PAIRS if "\\" in text else _HIT_PAIRS
    if len(found) != sum(len(pair.findall(text)) for pair in pairs):
        found = _URL_HIT.findall(text)
    raws = set(found)
    raws.discard("")
    fresh = list(raws.difference(known))
    if fresh:
        known.update(zip(fresh, _PLAINLY_PUBLIC.findall("//" + "\n//".join(fresh).lower()), strict=True))
    return found, raws


def plain_host(raw: str) -> str:
    return raw.lower().rstrip(".")


def hit_positions(text: str) -> list[int]:
    return [hit.start() for hit in SCHEME_COLON.finditer(text)]
