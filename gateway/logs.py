"""Logging setup, with secrets masked in every line whoever wrote it (us, uvicorn, upstreams)."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, Final

import orjson

_SECRET_PATTERNS: Final = (
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(
        r"(?i)((?:api[_-]?key|token|secret|password|passwd|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"
    ),
    re.compile(r"(pcs_)[A-Za-z0-9_\-]{8,}"),
)


_HINTS: Final = ("bearer", "pcs_", "api", "token", "secret", "passw", "authorization")
"""Lower-case text every secret pattern needs; a line with none of them is returned as is."""


def mask(text: str) -> str:
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return text
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1****", text)
    return text


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
            record.fields = args if masked == message else {k: _masked(v) for k, v in args.items()}
        if masked != message or args:
            record.msg, record.args = masked, None
        return True


def _masked(value: Any) -> Any:
    return mask(value) if isinstance(value, str) else value


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


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
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
