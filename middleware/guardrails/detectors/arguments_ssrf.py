"""SSRF: URLs (and bare ``host:port``) in a tool argument that would make the tool reach the
gateway's own network, its cloud metadata service, or a non-HTTP protocol.

URLs are read leniently on purpose: backslashes count as slashes, every ``@`` candidate is judged
(parsers disagree on which one ends the userinfo), hosts are percent-decoded and NFKC-folded, and
numeric hosts are parsed like ``inet_aton``. URLs hidden percent-encoded inside a query string are
found by scanning the decoded text too.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Collection, Sequence
from typing import Final

from middleware.guardrails.detectors.arguments_hosts import (
    address_kind,
    host_kind,
    name_kind,
    parse_ip_literal,
)
from middleware.guardrails.detectors.arguments_text import fold_unicode, percent_decode
from middleware.guardrails.detectors.arguments_urls import (
    PlainHosts,
    Span,
    TokenEnds,
    has_authority,
    hit_positions,
    host_candidates,
    normalise_host,
    plain_hits,
    plain_host,
    spans_at,
    url_spans,
)
from middleware.guardrails.detectors.findings import Finding

_DETECTOR: Final = "ssrf"
# Schemes that reach files, raw sockets or in-process wrappers instead of a web page.
_DANGEROUS_SCHEMES: Final = frozenset(
    {
        "file",
        "gopher",
        "dict",
        "ldap",
        "ldaps",
        "ldapi",
        "tftp",
        "netdoc",
        "jar",
        "php",
        "phar",
        "expect",
        "glob",
        "zip",
        "smb",
        "compress.zlib",
        "compress.bzip2",
        "ssh2.exec",
    }
)
# Object-store URLs name a bucket, not a network host.
_BUCKET_SCHEMES: Final = frozenset(
    {"s3", "s3a", "s3n", "gs", "gcs", "az", "abfs", "abfss", "wasb", "wasbs", "hdfs", "dbfs"}
)
# Schemes that name a network host. Any other scheme (``test://``, ``modern://server/x``: an MCP
# server's own resource URIs) names something of its own: a bare name there is no internal host.
_NETWORK_SCHEMES: Final = frozenset(
    {"http", "https", "ws", "wss", "ftp", "ftps", "sftp", "ssh", "telnet", "rtsp", "mqtt", "mqtts"}
    | {"amqp", "amqps", "redis", "rediss", "mongodb", "mongodb+srv", "postgres", "postgresql", "mysql"}
    | {"git", "svn", "nntp", "imap", "imaps", "pop3", "smtp", "smtps", "ldap", "ldaps", "irc", "xmpp"}
)
# Found from the colon: ``scheme:`` then a slash or backslash (``jar:http://`` nests a URL).
# Bare hosts without a scheme: dotted-quad, [v6] or a loopback/metadata name, with a port or
# path, or standing alone as the whole value. What precedes it is checked in code (fast scan).
_HOST_END = r"(:\d{1,5}(?!\d)|/|(?=\s*$))"
_BARE_IPV4 = re.compile(r"(\d\d{0,2}(?:\.\d{1,3}){3})" + _HOST_END)
_QUADS_ONE_BY_ONE: Final = 64
_DOTTED_QUAD = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d")  # inside every dotted-quad; led by a literal
# One pattern per name: each is led by a literal (fast to scan for), and no two can overlap.
_BARE_NAMES = tuple(
    re.compile(f"({name})" + _HOST_END)
    for name in (r"\[[0-9A-Fa-f:.]+\]", "localhost", r"metadata\.google\.internal")
)
_BRACKETED = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_NOT_BEFORE_BARE_HOST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/@%-")

_REASONS: Final = {
    "loopback": "URL targets the loopback interface (this machine).",
    "unspecified": "URL targets the unspecified address, which reaches this machine.",
    "private_address": "URL targets a private or internal network address.",
    "link_local": "URL targets a link-local address.",
    "reserved_address": "URL targets a multicast, broadcast or reserved address.",
    "metadata_host": "URL targets a cloud instance-metadata endpoint.",
    "numeric_host": "URL hides an internal address behind a non-standard numeric spelling.",
    "rebinding_name": "URL uses a DNS name built to resolve to an internal address.",
    "internal_name": "URL targets an internal-only host name.",
    "scheme": "URL uses a scheme that reaches files or raw network services.",
    "resolves_private": "Host name resolves to an internal or metadata address.",
}


def _is_allowed(host: str, allowed_hosts: Collection[str]) -> bool:
    for allowed in allowed_hosts:
        pattern = allowed.lower().rstrip(".")
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def _judge_hosts(hosts: Sequence[tuple[str, bool]], allowed_hosts: Collection[str]) -> str | None:
    for host, userinfo in hosts:
        if _is_allowed(host, allowed_hosts):
            continue
        kind = host_kind(host)
        if kind is not None and not (userinfo and kind == "internal_name"):  # "user:pass@" is no host
            return kind
    return None


_Verdicts = dict[object, str | None]  # per call: a text repeats its URLs and hosts


def _judge_span(span: Span, allowed_hosts: Collection[str], verdicts: _Verdicts) -> str | None:
    _start, _end, scheme, rest = span
    if scheme in _DANGEROUS_SCHEMES:
        return "scheme"
    if not has_authority(rest) or scheme in _BUCKET_SCHEMES:
        return None
    if rest not in verdicts:  # the same URL again: the same verdict
        candidates = tuple(host_candidates(rest))
        if candidates not in verdicts:  # the same hosts behind another spelling
            verdicts[candidates] = _judge_hosts(candidates, allowed_hosts)
        verdicts[rest] = verdicts[candidates]
    verdict = verdicts[rest]
    if verdict == "internal_name" and scheme not in _NETWORK_SCHEMES:
        return None  # an application's own scheme: its "host" is a name of its own
    return verdict


def _scan_urls(text: str, allowed_hosts: Collection[str], known: PlainHosts) -> list[Finding]:
    """Findings for the URL hits of ``text``: plain URLs are judged by their host, once per host;
    only the other hits and the flagged plain ones are located (and the others parsed)."""
    found, raws = plain_hits(text, known)
    flagged: dict[str, str | None] = {"": None}  # a plain URL's kind is its host's
    for raw in raws:
        host = "" if known[raw] else plain_host(raw)
        kind = _judge_hosts([(host, False)], allowed_hosts) if host else None
        if kind is not None:
            flagged[raw] = kind
    if "" not in found and len(flagged) == 1:
        return []
    findings: list[Finding] = []
    positions = hit_positions(text)
    ends = TokenEnds(text)
    verdicts: _Verdicts = {}
    for index in [index for index, raw in enumerate(found) if raw in flagged]:
        position = positions[index]
        for span in spans_at(text, position, ends.at(position)):  # a plain URL has just one
            kind = flagged[found[index]] or _judge_span(span, allowed_hosts, verdicts)
            if kind is not None:
                findings.append(Finding(_DETECTOR, kind, span[0], span[1], _REASONS[kind]))
    return findings


def _inside_url(position: int, url_starts: list[int], url_ends: list[int]) -> bool:
    """Whether ``position`` lies in one of the URL tokens (sorted by start; nested ones share an end)."""
    index = bisect_right(url_starts, position) - 1
    return index >= 0 and position < url_ends[index]


def _start(match: re.Match[str]) -> int:
    return match.start()


def _bare_ipv4s(text: str) -> list[re.Match[str]]:
    """What ``_BARE_IPV4.finditer`` finds, tried only just before each dotted quad: a match starts
    with the one to three digits (``\\d``, i.e. ``str.isdecimal``) before its first dot, and where
    it fails, starting on a later of those digits fails the same way."""
    matches: list[re.Match[str]] = []
    position = 0
    for _quad in range(_QUADS_ONE_BY_ONE):
        quad = _DOTTED_QUAD.search(text, position)
        if quad is None:
            return matches
        dot = start = quad.start()
        while start > max(position, dot - 3) and text[start - 1].isdecimal():
            start -= 1
        found = _BARE_IPV4.match(text, start) if start < dot else None
        if found is None:
            position = dot + 1
        else:
            matches.append(found)
            position = found.end()
    matches += _BARE_IPV4.finditer(text, position)  # dense with dotted quads: one scan is cheaper
    return matches


class _UrlBounds:
    """Where the URL tokens of a text lie, found on first use: most bare-host candidates fail
    cheaper checks first, and finding every URL of a long text is not free."""

    __slots__ = ("_ends", "_has_urls", "_starts", "_text")

    def __init__(self, text: str, has_urls: bool) -> None:
        self._text = text
        self._has_urls = has_urls
        self._starts: list[int] | None = None
        self._ends: list[int] = []

    def contain(self, position: int) -> bool:
        if self._starts is None:
            spans = url_spans(self._text) if self._has_urls else ()
            bounds = sorted((span[0], span[1]) for span in spans)
            self._starts = [start for start, _end in bounds]
            self._ends = [end for _start, end in bounds]
        return _inside_url(position, self._starts, self._ends)


def _scan_bare_hosts(text: str, has_urls: bool, allowed_hosts: Collection[str]) -> list[Finding]:
    """Scheme-less hosts (``10.0.0.5:22``, ``localhost:8080``) outside every URL token."""
    findings: list[Finding] = []
    urls = _UrlBounds(text, has_urls)
    matches = _bare_ipv4s(text)
    if "[" in text or "localhost" in text or "metadata." in text:
        matches += sorted((match for name in _BARE_NAMES for match in name.finditer(text)), key=_start)
    for match in matches:
        if match.start() > 0 and text[match.start() - 1] in _NOT_BEFORE_BARE_HOST:
            continue
        if not match.group(2) and text[: match.start()].strip():
            continue  # an address merely mentioned at the end of prose, not a target
        if urls.contain(match.start()):
            continue
        host = normalise_host(match.group(1))
        if _is_allowed(host, allowed_hosts):
            continue
        kind = host_kind(host)
        if kind is not None:
            findings.append(Finding(_DETECTOR, kind, match.start(), match.end(1), _REASONS[kind]))
    return findings


def _may_have_bare_host(text: str) -> bool:
    """Whether a bare host could be in ``text``: cheap literal-led searches before the real scans."""
    if _DOTTED_QUAD.search(text) is not None or "localhost" in text or "metadata." in text:
        return True
    return "[" in text and _BRACKETED.search(text) is not None


def _scan(text: str, allowed_hosts: Collection[str], known: PlainHosts) -> list[Finding]:
    slashed = "/" in text or "\\" in text  # one-character tests are far cheaper than two-character ones
    has_urls = slashed and (":/" in text or ":\\" in text or "=/" in text)
    findings = _scan_urls(text, allowed_hosts, known) if has_urls else []
    if _may_have_bare_host(text):
        findings += _scan_bare_hosts(text, has_urls, allowed_hosts)
    return findings


def find_ssrf(text: str, allowed_hosts: Collection[str] = ()) -> list[Finding]:
    """Findings for URLs and bare ``host:port`` that target internal, metadata or non-web endpoints.

    Hosts listed in ``allowed_hosts`` (exact, or ``*.suffix``) pass. Findings from the raw text
    carry the URL's span; URLs only visible after decoding (percent-encoded, fullwidth) are
    reported over the whole text, since their encoded span has no clean boundary.
    """
    known: PlainHosts = {}
    findings = _scan(text, allowed_hosts, known)
    if findings:
        return findings
    if "%" not in text and text.isascii():
        return []
    decoded = fold_unicode(percent_decode(text))
    if decoded == text:
        return []
    hidden = _scan(decoded, allowed_hosts, known)
    if not hidden:
        return []
    kind = hidden[0].kind
    return [Finding(_DETECTOR, kind, 0, len(text), _REASONS[kind])]


def _judged_hosts(view: str, position: int, end: int, seen: dict[str, list[str]]) -> list[str]:
    """Hosts of the (non-plain) URL(s) at ``position`` that only DNS can judge; ``seen`` keeps the
    answer for each URL text already read in this call."""
    hosts: list[str] = []
    for _start, _end, scheme, rest in spans_at(view, position, end):
        if scheme in _DANGEROUS_SCHEMES or scheme in _BUCKET_SCHEMES or not has_authority(rest):
            continue
        if scheme not in _NETWORK_SCHEMES:
            continue  # not a host a server would look up
        if rest not in seen:
            seen[rest] = [
                candidate
                for candidate, _userinfo in host_candidates(rest)  # candidates are never empty
                if parse_ip_literal(candidate) is None and name_kind(candidate) is None
            ]
        hosts += seen[rest]
    return hosts


def _resolvable_hosts(view: str, known: PlainHosts, names: dict[str, str]) -> list[str]:
    """Hosts of the URLs in ``view`` that are neither IP literals nor judged by name, in order
    (repeats allowed). Only the hits that are not plain URLs are located and parsed one by one.
    ``names`` gathers the plain URLs' raw hosts that are resolvable, over the views of a text."""
    if "/" not in view and "\\" not in view:
        return []  # every URL hit has a slash or backslash
    found, raws = plain_hits(view, known)
    for raw in raws.difference(names):
        host = known[raw] or plain_host(raw)
        if known[raw] or (host and parse_ip_literal(host) is None and name_kind(host) is None):
            names[raw] = host
        else:
            names[raw] = ""
    if "" not in found:
        return [names[raw] for raw in found if raw and names[raw]]
    positions = hit_positions(view)
    ends = TokenEnds(view)
    seen: dict[str, list[str]] = {}
    resolvable: list[str] = []
    first = 0
    for index in [index for index, raw in enumerate(found) if not raw]:
        resolvable += [names[raw] for raw in found[first:index] if raw and names[raw]]
        resolvable += _judged_hosts(view, positions[index], ends.at(positions[index]), seen)
        first = index + 1
    resolvable += [names[raw] for raw in found[first:] if raw and names[raw]]
    return resolvable


def hostnames_to_resolve(text: str) -> list[str]:
    """DNS names of the URLs in ``text`` (percent-encoded nested ones included) that only a lookup
    can judge: not IP literals and not already forbidden by name. The gateway resolves them and
    passes the answers to :func:`check_resolved`."""
    view = fold_unicode(text)
    known: PlainHosts = {}
    plain: dict[str, str] = {}
    names = _resolvable_hosts(view, known, plain)
    if "%" in text:
        decoded = fold_unicode(percent_decode(text))
        if decoded != view:
            names += _resolvable_hosts(decoded, known, plain)
    return list(dict.fromkeys(names))


def check_resolved(host: str, addresses: Sequence[str]) -> Finding | None:
    """A "resolves_private" finding when any address ``host`` resolved to is internal or metadata.

    The span covers ``host`` itself (the gateway has the host, not the original text, at hand).
    Unparseable addresses are ignored: the resolver produced them, not the attacker.
    """
    for text in addresses:
        literal = parse_ip_literal(text.strip())
        if literal is not None and address_kind(literal[0]) is not None:
            return Finding(_DETECTOR, "resolves_private", 0, len(host), _REASONS["resolves_private"])
    return None
