"""Logging setup, with secrets masked in every line whoever wrote it (us, uvicorn, upstreams)."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, Final, TextIO

import orjson

_SECRET_PATTERNS: Final = (
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(
        r"(?i)((?:api[_-]?key|token|secret|password|passwd|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
    ),
    re.compile(r"(pcs_)[A-Za-z0-9_\-]{8,}"),
)


_HINTS: Final = ("bearer", "pcs_", "api", "token", "secret", "passw", "authorization")
"""Lower-case text every keyed pattern needs; a line with none of them skips those patterns."""

_URL_PASSWORD: Final = re.compile(r"(?<=://)([^\s:/@]{1,64}):[^\s@/]{1,128}(?=@)")
_EMAIL: Final = re.compile(
    r"(?<!principal=)(?<![\w.+-])[\w.+-]{1,64}@([A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+)"
)
_AWS_KEY_ID: Final = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
_PHONE: Final = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){1,2}[ .-]?\d{3,4}[ .-]?\d{4}(?!\w)")
_NUMBERS: Final = re.compile(
    r"(?P<ssn>\b\d{3}-\d{2}-\d{4}\b)"
    r"|(?P<iban>\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b)"
    r"|(?P<card>\b\d(?:[ -]?\d){12,18}\b)"
)
_DIGIT_RUN: Final = re.compile(r"\d[\d -]{7,}\d")
"""The gate of :data:`_NUMBERS`: an SSN, an IBAN's digits or a card number is a run of nine or
more digits (spaces and dashes between); a line without one (most lines) is not scanned for them."""
_TOKEN_CHARS: Final = re.compile(r"[\w+/=.-]{24,}")
_LONG_WORD: Final = 24


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _token_is_secret(token: str) -> bool:
    """A long token with upper and lower case letters and digits: a key, not a word or a hex hash."""
    return token.lower() != token and token.upper() != token and any(c.isdigit() for c in token)


def _token(match: re.Match[str]) -> str:
    return "[token]" if _token_is_secret(match.group()) else match.group()


def _number(match: re.Match[str]) -> str:
    kind, value = match.lastgroup, match.group()
    if kind == "card" and not _luhn("".join(c for c in value if c.isdigit())):
        return value
    return f"[{kind}]"


def _values(text: str) -> str:
    """Mask what is secret or personal whatever precedes it. Each pattern is gated by a
    substring test, so a line pays only for the patterns it could match."""
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1:****", text)
    if "@" in text:
        text = _EMAIL.sub(r"****@\1", text)
    if "AKIA" in text or "ASIA" in text:
        text = _AWS_KEY_ID.sub("[aws_key]", text)
    if "+" in text:
        text = _PHONE.sub("[phone]", text)
    if _DIGIT_RUN.search(text):
        text = _NUMBERS.sub(_number, text)
    if max(map(len, text.split()), default=0) >= _LONG_WORD:
        text = _TOKEN_CHARS.sub(_token, text)
    return text


def mask(text: str) -> str:
    """``text`` with secrets and personal data masked: keyed secrets (``token=...``, bearer
    credentials, our API keys) and values recognisable on their own (:func:`_values`)."""
    lowered = text.lower()
    if any(hint in lowered for hint in _HINTS):
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(r"\1****", text)
    return _values(text)


class MaskSecrets(logging.Filter):
    """Rewrites the formatted message; cheap next to the I/O of writing the line.

    A record logged with one mapping of fields (``log.info("a=%(a)s", {"a": ...})``) keeps
    them, masked, as ``record.fields`` for the JSON format to write as keys.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        message = record.getMessage()
        masked = mask(message)
        if isinstance(args, Mapping) and "%(" in str(record.msg):  # not log.info("%s", a_dict)
            record.fields = args if masked == message else {k: masked_field(k, v) for k, v in args.items()}
        if masked != message or args:
            record.msg, record.args = masked, None
        return True


def masked_field(key: str, value: Any) -> Any:
    """A field masked; the principal is the audit trail's subject, kept even when an e-mail."""
    return mask(value) if isinstance(value, str) and key != "principal" else value


_RESERVED: Final = frozenset({"ts", "level", "logger", "msg", "exception"})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and each field of the record as its
    own key ("-", the text format's placeholder for nothing, becomes null)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            for key, value in fields.items():
                if key not in _RESERVED:
                    entry[key] = None if value == "-" else value
        if record.exc_info:
            entry["exception"] = mask(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def configure(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Every log record to ``stream`` (stderr by default), secrets masked."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(MaskSecrets())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    # No format of ours shows the caller's file, line, thread or process: don't collect them
    # for every record (the logging HOWTO's "Optimization" table).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
