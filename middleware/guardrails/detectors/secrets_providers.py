"""Provider tokens: credentials whose own prefix says what they are (``ghp_``, ``xoxb-``, ``AKIA`` ...).

A regex per provider over the whole text would cost a pass each; instead the text is mapped once to
token / non-token characters (a C-level ``translate``), long runs are found with a skipping substring
search, and only runs whose first two characters open some provider's prefix meet that provider's
exact pattern.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final, NamedTuple

from middleware.guardrails.detectors.secrets_values import is_placeholder, is_token_body


class Candidate(NamedTuple):
    """A span the family may report; ``rank`` orders overlapping claims (lower wins)."""

    start: int
    end: int
    kind: str
    rank: int


RANK_PROVIDER: Final = 0
RANK_STRUCTURED: Final = 1
RANK_GENERIC: Final = 2
MIN_RUN: Final = 16

# (prefix, kind, pattern); the pattern starts with the prefix and is matched where the run starts.
_PROVIDERS: Final[tuple[tuple[str, str, str], ...]] = (
    ("AKIA", "aws_key", r"AKIA[A-Z0-9]{16}(?![A-Za-z0-9])"),
    ("ASIA", "aws_key", r"ASIA[A-Z0-9]{16}(?![A-Za-z0-9])"),
    ("ABIA", "aws_key", r"ABIA[A-Z0-9]{16}(?![A-Za-z0-9])"),
    ("ACCA", "aws_key", r"ACCA[A-Z0-9]{16}(?![A-Za-z0-9])"),
    ("IQoJb3JpZ2lu", "aws_session_token", r"IQoJb3JpZ2lu[A-Za-z0-9/+=]{40,}"),
    ("FwoGZXIvYXdz", "aws_session_token", r"FwoGZXIvYXdz[A-Za-z0-9/+=]{40,}"),
    ("github_pat_", "github", r"github_pat_[A-Za-z0-9_]{60,100}"),
    ("ghp_", "github", r"ghp_[A-Za-z0-9]{36,40}(?![A-Za-z0-9])"),
    ("gho_", "github", r"gho_[A-Za-z0-9]{36,40}(?![A-Za-z0-9])"),
    ("ghu_", "github", r"ghu_[A-Za-z0-9]{36,40}(?![A-Za-z0-9])"),
    ("ghs_", "github", r"ghs_[A-Za-z0-9]{36,40}(?![A-Za-z0-9])"),
    ("ghr_", "github", r"ghr_[A-Za-z0-9]{36,40}(?![A-Za-z0-9])"),
    (
        "gl",
        "gitlab",
        r"gl(?:pat|dt|rt|ptt|soat|cbt|oas|imt|agent|ffct|ft)-[A-Za-z0-9_-]{20,}(?:\.\w{2}\.\w{6,})?",
    ),
    ("GR1348941", "gitlab", r"GR1348941[A-Za-z0-9_-]{20,}"),
    ("xox", "slack", r"(?:xoxe\.)?xox[abeoprs]-[A-Za-z0-9-]{10,}"),
    ("xapp-", "slack", r"xapp-\d-[A-Za-z0-9-]{20,}"),
    ("sk_", "stripe", r"sk_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("rk_", "stripe", r"rk_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("whsec_", "stripe", r"whsec_[A-Za-z0-9+/=]{24,}"),
    ("AIza", "google", r"AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"),
    ("GOCSPX-", "google", r"GOCSPX-[A-Za-z0-9_-]{24,}"),
    ("ya29.", "google", r"ya29\.[A-Za-z0-9_-]{30,}"),
    ("sk-ant-", "llm_key", r"sk-ant-[a-z]{2,6}\d{2}-[A-Za-z0-9_-]{40,}"),
    ("sk-", "llm_key", r"sk-(?:proj-|svcacct-|admin-|or-v1-|None-)?[A-Za-z0-9_-]{20,}"),
    ("gsk_", "llm_key", r"gsk_[A-Za-z0-9]{40,}"),
    ("r8_", "llm_key", r"r8_[A-Za-z0-9]{30,}"),
    ("pplx-", "llm_key", r"pplx-[A-Za-z0-9]{40,}"),
    ("xai-", "llm_key", r"xai-[A-Za-z0-9]{50,}"),
    ("lsv2_", "llm_key", r"lsv2_(?:pt|sk)_[0-9a-f]{32}_[0-9a-f]{10}"),
    ("pcsk_", "llm_key", r"pcsk_[A-Za-z0-9_]{40,}"),
    ("nvapi-", "llm_key", r"nvapi-[A-Za-z0-9_-]{50,}"),
    ("hf_", "huggingface", r"hf_[A-Za-z0-9]{30,40}(?![A-Za-z0-9])"),
    ("api_org_", "huggingface", r"api_org_[A-Za-z0-9]{30,40}(?![A-Za-z0-9])"),
    ("npm_", "npm", r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"),
    ("pypi-Ag", "pypi", r"pypi-Ag[A-Za-z0-9_-]{50,}"),
    ("SK", "twilio", r"SK[0-9a-fA-F]{32}(?![A-Za-z0-9])"),
    ("SG.", "sendgrid", r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}"),
    ("key-", "mailgun", r"key-[0-9a-zA-Z]{32}(?![A-Za-z0-9])"),
    ("do", "digitalocean", r"do[opr]_v1_[a-f0-9]{64}"),
    ("shp", "shopify", r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"),
    ("ATATT3", "atlassian", r"ATATT3[A-Za-z0-9_=-]{50,}"),
    ("ATCTT3", "atlassian", r"ATCTT3[A-Za-z0-9_=-]{50,}"),
    ("ATBB", "atlassian", r"ATBB[A-Za-z0-9_=.-]{28,}"),
    ("hv", "vault", r"hv[sbr]\.[A-Za-z0-9_-]{24,}"),
    ("AA", "telegram", r"(?<=[0-9]{6}:)AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])"),
    ("AAAAAAAAAAAAAAAAAAAA", "twitter", r"A{20,24}[A-Za-z0-9%]{30,}"),
    ("sq0", "square", r"sq0(?:atp|csp)-[A-Za-z0-9_-]{22,60}"),
    ("EAA", "meta", r"EAA[A-Z][A-Za-z0-9]{60,}"),
    ("PMAK-", "postman", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    ("dp.", "doppler", r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}"),
    ("lin_", "linear", r"lin_(?:api|oauth)_[A-Za-z0-9]{40}"),
    ("secret_", "notion", r"secret_[A-Za-z0-9]{43}(?![A-Za-z0-9])"),
    ("ntn_", "notion", r"ntn_[A-Za-z0-9]{40,}"),
    ("sntry", "sentry", r"sntry[su]_[A-Za-z0-9+/=_]{50,}"),
    ("figd_", "figma", r"figd_[A-Za-z0-9_-]{38,}"),
    ("sbp_", "supabase", r"sbp_[a-f0-9]{40}"),
    ("nfp_", "netlify", r"nfp_[A-Za-z0-9]{36}"),
    ("glc_", "grafana", r"glc_[A-Za-z0-9+/]{32,}={0,2}"),
    ("glsa_", "grafana", r"glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}"),
    ("NRAK-", "newrelic", r"NRAK-[A-Z0-9]{27}"),
    ("dt0c01.", "dynatrace", r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}"),
    ("pscale_", "planetscale", r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64}"),
    ("pul-", "pulumi", r"pul-[a-f0-9]{40}"),
    ("dapi", "databricks", r"dapi[a-f0-9]{32}(?:-\d)?"),
    ("HRKU-", "heroku", r"HRKU-[A-Za-z0-9_-]{30,}"),
    ("LTAI", "alibaba", r"LTAI[A-Za-z0-9]{12,20}(?![A-Za-z0-9])"),
    ("AGE-SECRET-KEY-1", "private_key", r"AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}"),
    ("dckr_pat_", "docker", r"dckr_pat_[A-Za-z0-9_-]{27,}"),
    ("fo1_", "flyio", r"fo1_[A-Za-z0-9_-]{40,}"),
    ("CFPAT-", "contentful", r"CFPAT-[A-Za-z0-9_-]{43}"),
    ("AKCp", "jfrog", r"AKCp[A-Za-z0-9]{60,}"),
    ("sk.eyJ", "mapbox", r"sk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}"),
    ("shippo_", "shippo", r"shippo_(?:live|test)_[a-f0-9]{40}"),
)

_PROVIDER_LIST: Final = sorted(
    ((prefix, kind, re.compile(pattern)) for prefix, kind, pattern in _PROVIDERS),
    key=lambda entry: -len(entry[0]),
)
_BY_LEAD: Final[dict[bytes, tuple[tuple[str, str, re.Pattern[str]], ...]]] = {
    lead: tuple(entry for entry in _PROVIDER_LIST if entry[0].encode()[:2] == lead)
    for lead in {prefix.encode()[:2] for prefix, _, _ in _PROVIDERS}
}
_TOKEN_CHARS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/+"
# Token characters become ``x`` and everything else a space, so a long run is a find of 16 ``x``.
RUN_TABLE: Final = bytes(0x78 if byte in _TOKEN_CHARS else 0x20 for byte in range(256))
_LONG_RUN: Final = b"x" * MIN_RUN


def _long_runs(runs: bytes) -> Iterator[int]:
    """Start of every run of at least ``MIN_RUN`` token characters (a skipping substring search)."""
    position = runs.find(_LONG_RUN)
    while position >= 0:
        yield position
        end = runs.find(b" ", position + MIN_RUN)
        if end < 0:
            return
        position = runs.find(_LONG_RUN, end)


def provider_candidates(text: str, ascii_image: bytes, runs: bytes) -> list[Candidate]:
    """Every provider token in ``text``; ``runs`` is its ASCII image passed through ``RUN_TABLE``."""
    found: list[Candidate] = []
    for run_start in _long_runs(runs):
        start = run_start
        while start < run_start + 2 and ascii_image[start] == 0x2F:  # "//token@host" in a URL
            start += 1
        entries = _BY_LEAD.get(ascii_image[start : start + 2], ())
        for prefix, kind, pattern in entries:
            match = pattern.match(text, start) if text.startswith(prefix, start) else None
            if match and _body_ok(kind, match.group()[len(prefix) :]):
                found.append(Candidate(_telegram_start(text, start, kind), match.end(), kind, RANK_PROVIDER))
                break
    return found


def _body_ok(kind: str, body: str) -> bool:
    """AWS key ids are upper-case base32: one in thirty has no digit, and is still a key id."""
    if kind == "aws_key":
        return not is_placeholder(body)
    return is_token_body(body)


def _telegram_start(text: str, start: int, kind: str) -> int:
    """A Telegram bot token is ``<bot id>:<secret>``; the id travels with the secret it unlocks."""
    if kind != "telegram":
        return start
    position = start - 1
    while position > 0 and text[position - 1].isdigit():
        position -= 1
    return position
