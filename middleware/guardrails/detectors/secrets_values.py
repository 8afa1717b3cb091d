"""Is a candidate value a real credential or a stand-in for one?

Documentation, templates and masked logs are full of credential-shaped strings that grant nothing:
``<your-key>``, ``${TOKEN}``, ``sk_live_...abcd``, ``changeme``, ``AKIAIOSFODNN7EXAMPLE``. Redacting them
would only annoy, so every detector in the secrets family asks these questions before reporting.
"""

from __future__ import annotations

import re
from typing import Final

# Substrings that only a stand-in carries: templating, masking, elision and the words docs use.
_PLACEHOLDER_MARKERS: Final = (
    "example",
    "sample",
    "dummy",
    "placeholder",
    "your",
    "xxxx",
    "***",
    "•••",
    "...",
    "…",
    "<",
    ">",
    "${",
    "{{",
    "}}",
    "%(",
    "redacted",
    "changeme",
    "change_me",
    "change-me",
    "insert",
    "replace",
    "notreal",
    "not_real",
    "not-a-real",
    "-here",
    "_here",
    "masked",
    "fixme",
)

# Values published in vendor documentation as examples: known to everyone, so they grant nothing.
_DOCUMENTED_EXAMPLES: Final = frozenset(
    {
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",  # signature of the jwt.io sample token
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    }
)

# Words a documentation author reaches for when a password is needed; leetspeak folded first.
_WEAK_WORDS: Final = frozenset(
    [
        "my",
        "your",
        "the",
        "super",
        "secret",
        "secrets",
        "password",
        "passwd",
        "pass",
        "pwd",
        "pw",
        "changeme",
        "change",
        "me",
        "admin",
        "administrator",
        "root",
        "guest",
        "test",
        "testing",
        "demo",
        "example",
        "sample",
        "dummy",
        "default",
        "user",
        "username",
        "login",
        "foo",
        "bar",
        "baz",
        "qux",
        "letmein",
        "hunter",
        "abc",
        "xyz",
        "db",
        "database",
        "postgres",
        "mysql",
        "redis",
        "mongo",
        "rabbit",
        "rabbitmq",
        "elastic",
        "strong",
        "dev",
        "local",
        "localhost",
        "token",
        "key",
        "api",
        "apikey",
        "value",
        "welcome",
        "qwerty",
        "new",
        "old",
    ]
)
_LEET: Final = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "@": "a", "$": "s", "7": "t"})
_NOT_LETTER: Final = re.compile(r"[^a-z]+")
_DIGIT: Final = re.compile(r"[0-9]")
_SEQUENCES: Final = ("123456789", "abcdefghi", "987654321", "qwertyuiop")
_SAME_CHAR_RUN: Final = re.compile(r"(.)\1{5}")
# ``$name`` is a variable only when it reads as a name: "$DB_PASS", "$db_pass2", "$1"; "$t9Bn3x" is a value.
_ENV_REFERENCE: Final = re.compile(
    r"\$[A-Za-z_]+[0-9]*(?:_\w*)?|\$[0-9]+|%\w+%|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z][A-Z0-9]+\(\)"
)
_BASE64_BLOB: Final = re.compile(r"/[A-Za-z0-9+/]{31,}={0,2}")
_LONG_SEGMENT: Final = 24
_CODE_REFERENCE: Final = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+")
_CALL: Final = re.compile(r"[\w.$]+[(\[]")
_CODE_ROOTS: Final = frozenset(
    [
        "process",
        "os",
        "env",
        "environ",
        "self",
        "this",
        "config",
        "settings",
        "secrets",
        "vars",
        "params",
        "ctx",
        "context",
        "app",
        "window",
        "system",
        "environment",
        "conf",
        "cfg",
        "options",
        "opts",
        "args",
        "import",
        "request",
        "req",
    ]
)
_CAMEL_CASE: Final = re.compile(r"[a-z]*(?:[A-Z][a-z]+)+")
_LITERALS: Final = frozenset(
    [
        "none",
        "null",
        "nil",
        "undefined",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "required",
        "optional",
        "string",
        "str",
        "bytes",
        "bool",
        "int",
        "secretstr",
        "env",
        "unset",
        "empty",
        "disabled",
        "enabled",
        "n/a",
        "na",
        "tbd",
        "todo",
    ]
)
_FILE_SUFFIXES: Final = (
    ".pem",
    ".key",
    ".crt",
    ".cer",
    ".json",
    ".txt",
    ".env",
    ".yaml",
    ".yml",
    ".p12",
    ".pfx",
    ".jks",
    ".der",
    ".gpg",
    ".asc",
    ".ini",
    ".cfg",
    ".conf",
)


def is_placeholder(value: str) -> bool:
    """A template, a mask, an elision, a documented example or a trivially repetitive value."""
    lowered = value.lower()
    if any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        return True
    if value in _DOCUMENTED_EXAMPLES or any(seq in lowered for seq in _SEQUENCES):
        return True
    return len(set(value)) < 5 or _SAME_CHAR_RUN.search(value) is not None


def is_weak_word(value: str) -> bool:
    """A value made only of the vocabulary docs use for passwords (``Passw0rd123``, ``admin``)."""
    lowered = value.lower()
    for folded in (lowered, lowered.translate(_LEET)):
        letters = _NOT_LETTER.sub(" ", folded).split()
        if not letters or all(_splits_into_weak_words(chunk) for chunk in letters):
            return True
    return False


def _splits_into_weak_words(chunk: str) -> bool:
    """Whether ``chunk`` is a concatenation of weak words (``mysecretpassword``)."""
    reachable = [True] + [False] * len(chunk)
    for end in range(1, len(chunk) + 1):
        reachable[end] = any(
            reachable[start] and chunk[start:end] in _WEAK_WORDS for start in range(max(0, end - 13), end)
        )
    return reachable[-1]


def is_reference(value: str) -> bool:
    """A pointer to a secret kept elsewhere (env var, config attribute, file path, call), not the secret."""
    if value.lower() in _LITERALS or "://" in value or _CALL.match(value):
        return True
    if _ENV_REFERENCE.fullmatch(value):
        return True
    if _CODE_REFERENCE.fullmatch(value) and (
        value.split(".", 1)[0].lower() in _CODE_ROOTS or _DIGIT.search(value) is None
    ):
        return True
    if value.startswith("/") and _is_base64_blob(value):
        return False  # a base64 key that happens to start with "/" is not a path
    return value.startswith(("/", "./", "../", "~/", "file:")) or value.lower().endswith(_FILE_SUFFIXES)


def _is_base64_blob(value: str) -> bool:
    """Long base64 with padding, a "+" or a long slash-free stretch: path segments are short words."""
    if _BASE64_BLOB.fullmatch(value) is None:
        return False
    return "+" in value or value.endswith("=") or max(len(part) for part in value.split("/")) >= _LONG_SEGMENT


def char_classes(value: str) -> tuple[bool, bool, bool, bool]:
    """Which of lower case, upper case, digits and other characters the value uses."""
    return (
        value != value.upper(),
        value != value.lower(),
        _DIGIT.search(value) is not None,
        not value.isalnum(),
    )


def looks_random(value: str, *, strict: bool = False) -> bool:
    """Enough length and variety to be generated or chosen as a secret rather than a word or a setting.

    ``strict`` is for values that follow a keyword with only a space (prose, flags), where ordinary
    words are the rule and only clearly machine-made strings should count.
    """
    lower, upper, digit, other = char_classes(value)
    variety = lower + upper + digit + other
    size = len(value)
    if strict:
        return size >= 8 and (variety >= 3 or (size >= 12 and digit and (lower or upper)))
    if size >= 8 and variety >= 3:
        return True
    if size >= 12 and digit and (lower or upper):
        return True
    return size >= 10 and lower and upper and not _CAMEL_CASE.fullmatch(value)


def is_credential_value(value: str, *, strict: bool = False) -> bool:
    """The one question every keyword-anchored detector asks about the value it found."""
    if len(value) < 6 or not looks_random(value, strict=strict):
        return False
    return not (is_placeholder(value) or is_reference(value) or is_weak_word(value))


def is_password(value: str, user: str = "") -> bool:
    """A password given in a URL or flag: weaker rules (it was explicitly typed there) but no defaults."""
    if len(value) < 4 or value.lower() == user.lower():
        return False
    if is_placeholder(value) or is_reference(value) or value.startswith("$"):
        return False
    return not is_weak_word(value)


def is_token_body(body: str) -> bool:
    """The random part of a provider token: real ones mix digits or letter cases and never repeat."""
    if is_placeholder(body):
        return False
    lower, upper, digit, _ = char_classes(body)
    return digit or (lower and upper)
