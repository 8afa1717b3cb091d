"""Secrets detector: credentials and private keys in tool arguments and results, offline.

``find_secrets`` reports each credential's VALUE span only (the gateway swaps it for a placeholder,
the rest stays readable). Kinds:

- provider tokens, recognised by their published prefix: ``aws_key`` (AKIA/ASIA key ids),
  ``aws_secret`` (40-char secret next to a key id or under a secret name), ``aws_session_token``,
  ``github``, ``gitlab``, ``slack`` (tokens and webhook URLs), ``discord`` (webhook URLs), ``stripe``
  (secret, restricted and webhook keys; never ``pk_``), ``google`` (API keys, OAuth secrets and access
  tokens), ``llm_key`` (OpenAI, Anthropic, Groq, Replicate, Perplexity, xAI, LangSmith, Pinecone,
  NVIDIA, OpenRouter), ``huggingface``, ``npm``, ``pypi``, ``twilio``, ``sendgrid``, ``mailgun``,
  ``digitalocean``, ``shopify``, ``atlassian``, ``vault``, ``telegram``, ``twitter``, ``square``, ``meta``,
  ``postman``, ``doppler``, ``linear``, ``notion``, ``sentry``, ``figma``, ``supabase``, ``netlify``,
  ``grafana``, ``newrelic``, ``dynatrace``, ``planetscale``, ``pulumi``, ``databricks``, ``heroku``,
  ``alibaba``, ``docker``, ``flyio``, ``contentful``, ``jfrog``, ``mapbox``, ``shippo``;
- ``private_key``: PEM blocks of every type, OpenSSH, PuTTY ``.ppk`` private lines, age secret keys;
- ``jwt``: signed JSON Web Tokens (header decodes to JSON with ``alg``);
- ``conn_string``: the password inside a database / broker URL;
- ``basic_auth``: the password of an ``http(s)://user:pass@`` URL, ``curl -u`` or ``Authorization: Basic``;
- ``bearer``: an opaque ``Authorization: Bearer/Token`` credential;
- ``generic``: a value assigned to a credential name (``password=``, ``"api_key":``, ``--token``,
  ``mysql -p...``) that is neither a reference, a placeholder, a default nor an ordinary word.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any, Final

import re2
from re2 import _re2

from middleware.guardrails.detectors.findings import Finding
from middleware.guardrails.detectors.secrets_blocks import (
    BASE64_PEM_MARKER,
    encoded_pem_candidate,
    jwt_candidate,
    pem_candidate,
    putty_candidate,
)
from middleware.guardrails.detectors.secrets_keyed import FOLD, foreign_label_candidates, keyed_candidate
from middleware.guardrails.detectors.secrets_providers import (
    RANK_STRUCTURED,
    RUN_TABLE,
    Candidate,
    provider_candidates,
)
from middleware.guardrails.detectors.secrets_urls import flag_candidate, url_candidates
from middleware.guardrails.detectors.secrets_values import char_classes

DETECTOR: Final = "secrets"
_MIN_TEXT: Final = 8
# Words a credential name ends in, with the longest ending each can start (``pass`` -> passphrase,
# ``auth`` -> authorization): a hit followed by more name than that is ``password_policy``, skipped.
_NAME_WORDS: Final = {
    b"pass": 10,
    b"pw": 3,
    b"secret": 6,
    b"token": 5,
    b"key": 3,
    b"auth": 13,
    # "password" in other languages, accents folded: Kennwort, wachtwoord, lösenord, contraseña, senha,
    # hasło, heslo, salasana, şifre, jelszó, adgangskode (Passwort and passord start with "pass")
    b"wort": 4,
    b"woord": 5,
    b"senord": 6,
    b"contrasena": 10,
    b"senha": 5,
    b"haslo": 5,
    b"heslo": 5,
    b"salasana": 8,
    b"sifre": 5,
    b"jelszo": 6,
    b"kode": 4,
}
# All name words in one linear RE2 pass (one ``bytes.find`` pass per word cost ~0.5 ns/byte each).
_NAME_WORD_PROGRAM: Final[Any] = _re2.RE2(b"|".join(_NAME_WORDS), re2.Options())
_UNANCHORED: Final[Any] = _re2.RE2.Anchor.UNANCHORED
_NAME_TRAILER: Final = 6  # "password." / "KEY-----": punctuation the run includes
_MAX_NAME: Final = 120
_OPERATORS: Final = frozenset({b"=", b":", b">"})
_PROSE_VALUE: Final = re.compile(rb"[ \t]+(?:(?:[\w.-]+[ \t]+){0,4}?(?:is|was|are)[ \t]+)?[!-~]{8}")
_QUALIFIER: Final = re.compile(
    rb"(?<![\w.-])(api|access|secret|private|auth|master|signing|license|app)[ \t]\Z"
)
_AWS_PAIR_WINDOW: Final = 200
_AWS_SECRET: Final = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_REASONS: Final = {
    "private_key": "A private key block is present.",
    "jwt": "A signed JSON Web Token (bearer credential) is present.",
    "conn_string": "A connection string carries a password.",
    "basic_auth": "A URL, flag or header carries a basic-auth password.",
    "bearer": "An Authorization header carries a bearer credential.",
    "generic": "A value assigned to a credential name looks like a real secret.",
    "aws_secret": "An AWS secret access key is present.",
}


def _occurrences(haystack: bytes, needle: bytes) -> Iterator[int]:
    """Every offset of ``needle`` in ``haystack`` (C-speed ``find``; no regex pass)."""
    position = haystack.find(needle)
    while position >= 0:
        yield position
        position = haystack.find(needle, position + 1)


def _name_word_hits(lowered: bytes) -> Iterator[tuple[int, int]]:
    """Offset and tail allowance of every credential-name word in the lowered text."""
    search = _NAME_WORD_PROGRAM.Match
    size = len(lowered)
    position = 0
    while True:
        begin, stop = search(_UNANCHORED, lowered, position, size)[0]
        if begin < 0:
            return
        yield begin, _NAME_WORDS[lowered[begin:stop]]
        position = stop


def _with_qualifier(lowered: bytes, start: int) -> int:
    """``api key``, ``access token``: a bare label word takes the qualifier word before it."""
    qualifier = _QUALIFIER.search(lowered, max(0, start - 12), start)
    return qualifier.start(1) if qualifier else start


def _value_follows(ascii_image: bytes, end: int) -> bool:
    """Cheap gate before the real parse: an operator follows the name, or (prose, flags) a long word."""
    head = ascii_image[end : end + 16].lstrip(b"\"'] \t")
    if head[:1] in _OPERATORS or head.lstrip(b",\r\n \t\"'")[:5].lower() == b"value":
        return True
    return _PROSE_VALUE.match(ascii_image, end) is not None


def _keyed(text: str, ascii_image: bytes, lowered: bytes, runs: bytes) -> list[Candidate]:
    """Values assigned to credential names: each label word locates its surrounding name."""
    found: list[Candidate] = []
    seen: set[int] = set()
    for hit, tail in _name_word_hits(lowered):
        end = runs.find(b" ", hit, hit + tail + _NAME_TRAILER)
        if end < 0 or (end - hit > tail and lowered[hit + tail : end].strip(b".-")):
            continue
        if not _value_follows(ascii_image, end):
            continue
        start = runs.rfind(b" ", max(0, hit - _MAX_NAME), hit) + 1
        if start in seen or (start == 0 and hit > _MAX_NAME):
            continue
        start = _with_qualifier(lowered, start)
        seen.add(start)
        candidate = keyed_candidate(text, start, end)
        if candidate is not None:
            found.append(candidate)
    return found


def _opens_token(runs: bytes, hit: int) -> bool:
    """Only a marker at the start of a run can open a token (``eyJeyJ...`` is one run, not many)."""
    return hit == 0 or runs[hit - 1] == 0x20


def _framed(text: str, ascii_image: bytes, lowered: bytes, runs: bytes) -> list[Candidate]:
    """Key blocks, JWTs, URL credentials and CLI password flags, each found from its own marker."""
    found: list[Candidate | None] = []
    for hit in _occurrences(lowered, b"private"):
        if lowered.startswith(b"private key", hit):
            found.append(pem_candidate(text, hit))
        elif lowered.startswith(b"private-lines:", hit):
            found.append(putty_candidate(text, hit))
    found += (
        jwt_candidate(text, hit) for hit in _occurrences(ascii_image, b"eyJ") if _opens_token(runs, hit)
    )
    found += (
        encoded_pem_candidate(text, hit)
        for hit in _occurrences(ascii_image, BASE64_PEM_MARKER)
        if _opens_token(runs, hit)
    )
    found += (flag_candidate(text, hit + 1) for hit in _occurrences(ascii_image, b" -"))
    result = [candidate for candidate in found if candidate is not None]
    for hit in _occurrences(ascii_image, b"://"):
        result += url_candidates(text, hit)
    return result


def _aws_secret_pairs(text: str, candidates: list[Candidate]) -> list[Candidate]:
    """An unlabelled 40-char secret right next to an AWS key id is that key's secret half."""
    found = []
    for key in candidates:
        if key.kind != "aws_key":
            continue
        low, high = max(0, key.start - _AWS_PAIR_WINDOW), key.end + _AWS_PAIR_WINDOW
        for match in _AWS_SECRET.finditer(text, low, high):
            lower, upper, digit, _ = char_classes(match.group())
            if lower and upper and digit:
                found.append(Candidate(match.start(), match.end(), "aws_secret", RANK_STRUCTURED))
    return found


def _resolve(candidates: list[Candidate]) -> list[Candidate]:
    """Non-overlapping spans: the most specific claim (lowest rank), then the earliest, then the longest."""
    kept: list[Candidate] = []
    starts: list[int] = []
    for candidate in sorted(candidates, key=lambda c: (c.rank, c.start, c.start - c.end)):
        index = bisect.bisect_left(starts, candidate.start)
        if index > 0 and kept[index - 1].end > candidate.start:
            continue
        if index < len(kept) and kept[index].start < candidate.end:
            continue
        kept.insert(index, candidate)
        starts.insert(index, candidate.start)
    return kept


def _reason(kind: str) -> str:
    """A sentence naming the kind of credential, never its value."""
    return _REASONS.get(kind) or f"A {kind.replace('_', ' ')} credential token is present."


def find_secrets(text: str) -> list[Finding]:
    """Credentials in ``text``, sorted by start, non-overlapping; each span is the secret value only."""
    if len(text) < _MIN_TEXT:
        return []
    ascii_only = text.isascii()
    # One byte per character, so offsets stay valid; accented letters folded so labels are seen.
    ascii_image = text.encode("ascii") if ascii_only else text.translate(FOLD).encode("ascii", "replace")
    lowered = ascii_image.lower()
    runs = ascii_image.translate(RUN_TABLE)
    candidates = provider_candidates(text, ascii_image, runs)
    candidates += _aws_secret_pairs(text, candidates)
    candidates += _framed(text, ascii_image, lowered, runs)
    candidates += _keyed(text, ascii_image, lowered, runs)
    if not ascii_only:
        candidates += foreign_label_candidates(text)
    return [
        Finding(DETECTOR, candidate.kind, candidate.start, candidate.end, _reason(candidate.kind))
        for candidate in _resolve(candidates)
    ]
