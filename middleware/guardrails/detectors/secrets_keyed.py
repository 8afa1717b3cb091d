"""Credentials known by their label: ``password=``, ``"api_key": "..."``, ``Authorization: Basic ...``.

Most leaked passwords and vendor keys have no tell-tale prefix; what gives them away is the name they
are assigned to. The caller finds the label words cheaply (``bytes.find`` on the lowered text), this
module decides whether the whole name is a credential name and whether the value is a credential
(not a reference, a placeholder, a default or an ordinary word). Only the value is reported.
"""

from __future__ import annotations

import re
from typing import Final

from middleware.guardrails.detectors.secrets_blocks import decode_basic
from middleware.guardrails.detectors.secrets_providers import RANK_GENERIC, RANK_STRUCTURED, Candidate
from middleware.guardrails.detectors.secrets_values import is_credential_value, is_password

# Accented Latin letters of credential names in other languages, folded one-for-one (offsets stay valid).
FOLD: Final = str.maketrans("ñłóöøşéèàçäüåÑŁÓÖØŞÉÈÀÇÄÜÅ", "nloooseeacauaNLOOOSEEACAUA")
# Whole-name endings (case and separators folded) that name a credential.
_NAME_ENDINGS: Final = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "accountkey",
    "masterkey",
    "signingkey",
    "encryptionkey",
    "authkey",
    "sessionkey",
    "clientkey",
    "appkey",
    "licensekey",
    "credential",
    "credentials",
    "pwd",
    "auth",
    "authorization",
    # the word for "password" in other languages (accents folded by the caller)
    "passwort",
    "kennwort",
    "wachtwoord",
    "losenord",
    "passord",
    "adgangskode",
    "contrasena",
    "senha",
    "haslo",
    "heslo",
    "salasana",
    "sifre",
    "jelszo",
)
_LAST_WORDS: Final = frozenset({"pass", "pw", "passe"})  # "passe": French "mot de passe"
_LAST_WORD_ENDINGS: Final = tuple(_LAST_WORDS)
# Names with these words hold something that is random but not a credential.
_NOT_CREDENTIAL_WORDS: Final = frozenset(
    [
        "public",
        "publishable",
        "pub",
        "csrf",
        "xsrf",
        "nonce",
        "next",
        "page",
        "pagination",
        "continuation",
        "cursor",
        "sync",
        "idempotency",
        "cache",
        "hash",
        "hashed",
        "digest",
        "checksum",
        "salt",
        "encrypted",
        "sort",
        "partition",
        "primary",
        "foreign",
        "max",
        "min",
        "bos",
        "eos",
        "pad",
        "unk",
        "cls",
        "sep",
        "mask",
        "type",
        "fingerprint",
        "count",
        "length",
        "limit",
    ]
)
_SEPARATORS: Final = re.compile(r"[^A-Za-z0-9]+")
_WORDS: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_ASSIGNMENT: Final = re.compile(
    r"""["'\]]{0,2}[ \t]*(?:(?P<op>:=|=>|==|=|:|\uff1a)"""
    r"""|(?P<spaced>[ \t]+(?:[\w.-]+[ \t]+){0,4}?(?:is|was|are)[ \t]+|[ \t]+))[ \t]*"""
    r"""(?:(?P<q>["'`])(?P<quoted>[^"'`\r\n]{1,400}?)(?P=q)|(?P<bare>[^\s"'`,;<>\\]{1,400}))"""
)
_AUTH_HEADER: Final = re.compile(
    r"""["'\]]{0,2}[ \t]*[:=][ \t]*["']?(?P<scheme>[Bb]asic|[Bb]earer|[Tt]oken|Bot)[ \t]+"""
    r"""(?P<cred>[A-Za-z0-9._~+/=-]{8,4000})"""
)
# A name/value pair: ``<add key="ApiKey" value="..."/>``, ``{"name": "API_TOKEN", "value": "..."}``,
# Kubernetes ``- name: DB_PASSWORD`` then ``value: ...`` on the next line (``valueFrom`` is a reference).
_VALUE_ATTRIBUTE: Final = re.compile(
    r"""["']?[ \t]*,?[ \t]*(?:\r?\n[ \t]*)?["']?value["']?[ \t]*[:=][ \t]*"""
    r"""(?:["'](?P<quoted>[^"'\r\n]{1,400})["']|(?P<bare>[^\s"',;}<>]{1,400}))"""
)
_XML_VALUE: Final = re.compile(r"([^<\s]{1,400})</")
_AWS_SECRET_SHAPE: Final = re.compile(r"[A-Za-z0-9/+]{40}")
_PROSE_TRAILER: Final = ".,);:!?"
_CODE_TRAILER: Final = ".,)"


def is_credential_name(name: str) -> bool:
    """``DB_PASSWORD``, ``SecretAccessKey``, ``x-api-key``, ``--token``: names that hold credentials."""
    name = name.translate(FOLD)
    folded = _SEPARATORS.sub("", name).lower()
    if not folded.endswith(_NAME_ENDINGS) and not folded.endswith(_LAST_WORD_ENDINGS):
        return False
    words = [word.lower() for word in _WORDS.findall(name)]
    if not words or any(word in _NOT_CREDENTIAL_WORDS for word in words):
        return False
    return "".join(words).endswith(_NAME_ENDINGS) or words[-1] in _LAST_WORDS


# Password labels in scripts the ASCII scan cannot see (it folds only accented Latin letters).
_FOREIGN_LABELS: Final = re.compile(r"パスワード|密码|密碼|口令|비밀번호|(?i:пароль)")


def foreign_label_candidates(text: str) -> list[Candidate]:
    """Values assigned to a password label written in Japanese, Chinese, Korean or Cyrillic."""
    found = []
    for label in _FOREIGN_LABELS.finditer(text):
        span = _value_span(text, label.start(), label.end())
        if span is not None and is_credential_value(text[span[0] : span[1]], strict=span[2]):
            found.append(Candidate(span[0], span[1], "generic", RANK_GENERIC))
    return found


def keyed_candidate(text: str, name_start: int, name_end: int) -> Candidate | None:
    """The credential assigned to the name at ``[name_start, name_end)``, if the name is a credential
    name and the value passes; the span is the value only."""
    name = text[name_start:name_end].lstrip("-.")
    if not is_credential_name(name):
        return None
    folded = name.lower()
    if folded.endswith(("authorization", "auth")):
        header = _header_candidate(text, name_end)
        if header is not None or folded.endswith("authorization"):
            return header
    span = _value_span(text, name_start, name_end)
    if span is None:
        return None
    start, end, prose = span
    value = text[start:end]
    if folded.endswith("auth") and (basic := decode_basic(value)) is not None:
        return (
            Candidate(start, end, "basic_auth", RANK_STRUCTURED) if is_password(basic[1], basic[0]) else None
        )
    if not is_credential_value(value, strict=prose):
        return None
    kind = "aws_secret" if "secret" in folded and _AWS_SECRET_SHAPE.fullmatch(value) else "generic"
    return Candidate(start, end, kind, RANK_GENERIC)


def _value_span(text: str, name_start: int, name_end: int) -> tuple[int, int, bool] | None:
    """Where the value assigned to the name lies, and whether it came in prose (``password is X``)."""
    attribute = _VALUE_ATTRIBUTE.match(text, name_end)
    if attribute is not None:  # <add key="ApiKey" value="..."/>, {"name": "TOKEN", "value": "..."}
        group = "quoted" if attribute.group("quoted") is not None else "bare"
        return attribute.start(group), attribute.end(group), False
    if name_start > 0 and text[name_start - 1] == "<" and text.startswith(">", name_end):
        element = _XML_VALUE.match(text, name_end + 1)
        return (element.start(1), element.end(1), False) if element else None
    match = _ASSIGNMENT.match(text, name_end)
    if match is None:
        return None
    if match.group("quoted") is not None:
        return match.start("quoted"), match.end("quoted"), False
    start, end = match.span("bare")
    prose = match.group("spaced") is not None and not text.startswith("-", name_start)
    if name_start > 0 and text[name_start - 1] in "?&":  # a URL query: the next parameter is not ours
        ampersand = text.find("&", start, end)
        end = end if ampersand < 0 else ampersand
    return start, _strip_trailer(text, start, end, _PROSE_TRAILER if prose else _CODE_TRAILER), prose


def _strip_trailer(text: str, start: int, end: int, trailer: str) -> int:
    """Sentence punctuation after an unquoted value belongs to the sentence, not the value."""
    while end > start and text[end - 1] in trailer:
        end -= 1
    return end


def _header_candidate(text: str, name_end: int) -> Candidate | None:
    """``Authorization: Basic <b64>`` carries a password; ``Bearer``/``Token`` carry a token."""
    match = _AUTH_HEADER.match(text, name_end)
    if match is None:
        return None
    start, end = match.span("cred")
    credential = match.group("cred")
    if match.group("scheme").lower() == "basic":
        pair = decode_basic(credential)
        if pair is None or not is_password(pair[1], pair[0]):
            return None
        return Candidate(start, end, "basic_auth", RANK_STRUCTURED)
    if not is_credential_value(credential):
        return None
    return Candidate(start, end, "bearer", RANK_STRUCTURED)
