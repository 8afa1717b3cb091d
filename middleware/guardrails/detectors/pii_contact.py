"""Contact data: e-mail addresses (plain and obfuscated) and IP addresses.

The RE2 trigger pass (pii_triggers) finds the "@", the obfuscation tokens and the IPv6 groups;
the patterns here run only there, anchored at the start of a token.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import re2
from re2 import _re2

from middleware.guardrails.detectors.pii_context import WORD_EDGE, Candidate, Label, label_before

# Anchored on the "@" (a literal the engine finds fast); the local part is read backwards in Python.
# The "@" may be URL-encoded (a query parameter) or an HTML entity (a scraped page).
_ENCODED_AT = re.compile(r"%40|&#0*64;|&#[xX]0*40;|&commat;")
_EMAIL_DOMAIN = re.compile(
    rf"(?:@|{_ENCODED_AT.pattern})(?:[A-Za-z0-9-]{{1,63}}\.)+[A-Za-z]{{2,24}}(?![\w-])"
)
_LOCAL_PART_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+%-")
_MAX_LOCAL_PART = 64
# "image@2x.png" and friends: asset names, not mailboxes.
_FILE_EXTENSIONS = frozenset(
    (
        "png",
        "jpg",
        "jpeg",
        "gif",
        "svg",
        "webp",
        "ico",
        "bmp",
        "tif",
        "tiff",
        "pdf",
        "js",
        "mjs",
        "cjs",
        "ts",
        "tsx",
        "jsx",
        "css",
        "scss",
        "less",
        "json",
        "yaml",
        "yml",
        "txt",
        "html",
        "htm",
        "xml",
        "lock",
        "zip",
        "gz",
        "tgz",
        "tar",
        "exe",
        "dll",
        "so",
        "wasm",
        "map",
        "woff",
        "woff2",
        "ttf",
        "mp3",
        "mp4",
        "mov",
    )
)
_SERVICE_MAILBOXES = frozenset({"git", "noreply", "no-reply", "donotreply", "do-not-reply", "mailer-daemon"})
# Role and team mailboxes name a function, not a person: not personal data (RFC 2142 and kin).
_ROLE_MAILBOXES = frozenset(
    [
        "abuse",
        "accounts",
        "admin",
        "administrator",
        "alerts",
        "billing",
        "bot",
        "bots",
        "build",
        "calendar",
        "careers",
        "ci",
        "compliance",
        "contact",
        "deploy",
        "dev",
        "devops",
        "events",
        "feedback",
        "finance",
        "hello",
        "help",
        "helpdesk",
        "hostmaster",
        "hr",
        "info",
        "it",
        "jobs",
        "legal",
        "marketing",
        "media",
        "news",
        "newsletter",
        "notifications",
        "notify",
        "office",
        "ops",
        "orders",
        "partners",
        "planning",
        "postmaster",
        "press",
        "privacy",
        "procurement",
        "recruiting",
        "releases",
        "release",
        "reply",
        "root",
        "sales",
        "security",
        "service",
        "services",
        "shop",
        "social",
        "support",
        "system",
        "team",
        "updates",
        "webmaster",
    ]
)

# "at"/"dot" in English, Spanish/Portuguese (arroba, punto, ponto), German (punkt), French (arobase, point).
_AT_WORD = r"(?:at|arroba|arobase)"
_DOT_WORD = r"(?:dot|punto|ponto|punkt|point)"
_AT = rf"(?:\s*[\[({{<]\s*{_AT_WORD}\s*[\])}}>]\s*|\s+{_AT_WORD}\s+)"
_DOT = rf"(?:\s*[\[({{<]\s*(?:{_DOT_WORD}|\.)\s*[\])}}>]\s*|\s+{_DOT_WORD}\s+|\.)"
_OBFUSCATED_BODY = rf"[\w+-]+(?:{_DOT}[\w+-]+)*{_AT}[a-z0-9-]+(?:{_DOT}[a-z0-9-]+)+"
# The same body for RE2, which scans a region in one linear pass where ``re`` retries the body at
# every position (~50 us per region); the token-start and token-end tests are done in Python.
_OBFUSCATED_PROGRAM: Any = _re2.RE2(
    ("(?i)" + _OBFUSCATED_BODY.replace(r"\w", r"\pL\pN_")).encode(), re2.Options()
)
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED

_OBFUSCATED_TOKEN = re.compile(
    r"(?i)[\[({<]\s*(?:at|arroba|arobase|dot|\.)\s*[\])}>]|\s(?:dot|punkt|punto|ponto|arroba|arobase)\s"
)
_GENERIC_TLDS = frozenset(
    (
        "com",
        "org",
        "net",
        "edu",
        "gov",
        "mil",
        "int",
        "info",
        "biz",
        "name",
        "pro",
        "mobi",
        "app",
        "dev",
        "io",
        "ai",
        "xyz",
        "online",
        "site",
        "tech",
        "store",
        "cloud",
        "email",
        "mail",
        "live",
        "blog",
        "shop",
        "page",
    )
)
_TLD_TAIL = re.compile(
    rf"(?i)(?:\.|\s{_DOT_WORD}\s|[\[({{<]\s*(?:{_DOT_WORD}|\.)\s*[\])}}>])\s*([a-z]{{2,24}})$"
)

_IPV4 = re.compile(r"[0-9][0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![\w]|\.[0-9])", re.ASCII)
# A full stop after the address ends the sentence; one before a word or digit would extend it.
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4})?(?::[0-9A-Fa-f]{0,4}){2,8}(?![\w:]|\.\w)", re.ASCII)
# Dotted quads after these words are versions, section or build numbers, not addresses.
_NOT_AN_ADDRESS = Label(
    r"(?i)(?:Ev|version|ver\.|firmware|Efw|release|Erel\.|build|section|Esect?\.|§|chapter|Ech\."
    r"|clause|rule|step|figure|Efig\.|table|item|paragraph|Epara\.|article|Eart\.|appendix|annex"
    r"|Eoid|Erev\.?|revision|patch|kernel|driver|bios|edition|update[ds]?|upgrade[ds]?|installed"
    r"|package|Epkg|Esdk|Eisbn|Emib|Erfc)(?:\s+(?:path|notes?|version|number|no\.?|level|id))?"
    r"[\s:=#-]{0,3}(?:(?:to|from|is|of|at)\s+)?$".replace("E", WORD_EDGE)
)
_FIRST_OCTETS_NOT_PERSONAL = frozenset({0, 127, 255})
_MIN_IPV6_GROUPS = 3


def email_at(text: str, at: int) -> Candidate | None:
    """The e-mail address whose "@" is at ``at`` (the local part is read backwards from it)."""
    domain = _EMAIL_DOMAIN.match(text, at)
    if domain is None:
        return None
    start = _local_part_start(text, at)
    value = _ENCODED_AT.sub("@", text[start : domain.end()], count=1)
    if start == at or not _is_mailbox(text, value, domain.end()):
        return None
    return Candidate(start, domain.end(), "email")


def _local_part_start(text: str, at: int) -> int:
    """Where the local part before the "@" at ``at`` begins (``at`` itself if there is none)."""
    start = at
    limit = max(0, at - _MAX_LOCAL_PART)
    while start > limit and text[start - 1] in _LOCAL_PART_CHARS:
        start -= 1
    while start < at and text[start] in ".-":
        start += 1  # a local part does not begin with a dot or dash
    return start


def _is_mailbox(text: str, value: str, end: int) -> bool:
    """Skip asset names (icon@2x.png), service endpoints (git@host:repo, noreply@) and role
    mailboxes (support@, security@, newsletter@)."""
    local, _, domain = value.rpartition("@")
    if domain.rsplit(".", 1)[-1].lower() in _FILE_EXTENSIONS:
        return False
    mailbox = local.lower()
    if mailbox.split("+", 1)[0] in _ROLE_MAILBOXES:
        return False
    return not (mailbox in _SERVICE_MAILBOXES and (local != "git" or text[end : end + 1] == ":"))


def obfuscated_emails(text: str, begin: int, end: int) -> list[Candidate]:
    """Obfuscated addresses ("jane dot doe at example dot com") within ``text[begin:end]``.

    An obfuscated address must really be obfuscated ("meet at google.com" is not one) and end
    in a real top-level domain ("this dot product" is prose). After a rejected match the search
    resumes at the next word, since "me at jane dot doe at example dot com" starts too early.
    Match starts only grow, so byte offsets become character offsets by decoding the bytes
    since the previous start (and the match itself): linear in the region.
    """
    region = text[begin:end]
    data = region.encode("utf-8", "surrogatepass")
    found: list[Candidate] = []
    position = byte_at = char_at = 0
    while True:
        start, stop = _OBFUSCATED_PROGRAM.Match(_UNANCHORED, data, position, len(data))[0]
        if start < 0:
            return found
        char_at += len(data[byte_at:start].decode("utf-8", "surrogatepass"))
        byte_at = start
        char_stop = char_at + len(data[start:stop].decode("utf-8", "surrogatepass"))
        if _whole_token(region, char_at, char_stop) and _really_obfuscated(region[char_at:char_stop]):
            found.append(Candidate(begin + char_at, begin + char_stop, "email"))
            position = stop
        else:
            position = start + len(region[char_at].encode("utf-8", "surrogatepass"))


def _whole_token(region: str, start: int, stop: int) -> bool:
    """The match neither continues a word before it nor runs into one after it."""
    before = region[start - 1] if start > 0 else " "
    after = region[stop] if stop < len(region) else " "
    return not (before.isalnum() or before in "_.+-" or after.isalnum() or after in "_-")


def _really_obfuscated(value: str) -> bool:
    """An obfuscation token is present and the address ends in a real top-level domain."""
    tld = _TLD_TAIL.search(value)
    return _OBFUSCATED_TOKEN.search(value) is not None and tld is not None and _is_tld(tld.group(1))


def _is_tld(label: str) -> bool:
    """Any two-letter country domain or one of the common generic ones."""
    return len(label) == 2 or label.lower() in _GENERIC_TLDS


def ipv4_at(text: str, start: int) -> Candidate | None:
    """The personal IPv4 address starting at ``start`` (the digit-run pass finds the starts)."""
    match = _IPV4.match(text, start)
    if match is None or not _is_personal_ipv4(text, match.group(), start):
        return None
    return Candidate(start, match.end(), "ip_address")


def ipv6_at(text: str, start: int) -> Candidate | None:
    """The IPv6 address of a host at ``start`` (a person's device or session), not loopback or a
    slice like "1::2"."""
    match = _IPV6.match(text, start)
    if match is None or not _is_personal_ipv6(match.group()):
        return None
    return Candidate(start, match.end(), "ip_address")


def _is_personal_ipv4(text: str, value: str, start: int) -> bool:
    """Real octets (<= 255, no leading zeros), a routable-looking host, not a version number."""
    octets = value.split(".")
    if any(len(octet) > 1 and octet.startswith("0") for octet in octets):
        return False
    numbers = [int(octet) for octet in octets]
    if max(numbers) > 255 or numbers[0] in _FIRST_OCTETS_NOT_PERSONAL:
        return False
    if numbers[3] == 0:
        return False  # a network address (or one anonymised by zeroing the host part), not a host
    if _inside_url(text, start):
        return False  # a server's address in a URL, or a search term in its query: nobody's
    return not label_before(_NOT_AN_ADDRESS, text, start, 24)


def _inside_url(text: str, start: int) -> bool:
    """Whether the address sits inside a URL token (``scheme://`` earlier in the same word)."""
    token_start = max(
        text.rfind(" ", max(0, start - 512), start), text.rfind("\n", max(0, start - 512), start)
    )
    return "://" in text[token_start + 1 : start]


def _is_personal_ipv6(value: str) -> bool:
    """A parseable IPv6 address with enough groups to be one (not "a::b" or a slice "1::2")."""
    try:
        address = ipaddress.IPv6Address(value)
    except ValueError:
        return False
    if address.is_loopback or address.is_unspecified:
        return False
    groups = [group for group in value.split(":") if group]
    return len(groups) >= _MIN_IPV6_GROUPS or (len(groups) == 2 and len(groups[0]) == 4)
