"""One log line for each request the HTTP tier refuses, so a refusal is never silent.

Fields are logged as a mapping (one JSON key each in the JSON format); what the client sent
as a credential never appears, and the path is cut short.
"""

from __future__ import annotations

import logging
from typing import Final

from middleware.protocol.http import ASGIScope

log = logging.getLogger("portcullis.http")

TEMPLATE: Final = "refused %(method)s %(path)s status=%(status)d reason=%(reason)s client=%(client)s"
_PATH_CHARS: Final = 200


def client_address(scope: ASGIScope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def log_refusal(scope: ASGIScope, status: int, reason: str) -> None:
    """Log that ``scope``'s request was refused with ``status`` because of ``reason``."""
    path: str = scope.get("path", "-")
    log.info(
        TEMPLATE,
        {
            "method": scope.get("method", "-"),
            "path": path if len(path) <= _PATH_CHARS else path[:_PATH_CHARS] + "...",
            "status": status,
            "reason": reason,
            "client": client_address(scope),
        },
    )
