"""One structured access-log line per MCP message: who, what, where, outcome, latency.

The fields are logged as a mapping, so a JSON log format writes each as its own key while the
text format reads ``method=... server=...``. Argument values never appear: they are the
likeliest place for secrets and personal data. The target (a tool or prompt name, a resource
URI) is the one the request named, even when the call failed before routing resolved it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final

from middleware.protocol import RESPONSE, TARGET_NAME, TARGET_SERVER, Event, MCPApp, Receive, Scope, Send

TEMPLATE: Final = (
    "method=%(method)s server=%(server)s name=%(name)s principal=%(principal)s session=%(session)s "
    "outcome=%(outcome)s code=%(code)s fault=%(fault)s ms=%(ms).2f"
)
_NAME_CHARS: Final = 200
"""A target name or URI is cut to this many characters in the log."""


def outcome_of(message: dict[str, Any]) -> tuple[str, Any, Any]:
    """The outcome of a response, with its error code and fault ("-" when none)."""
    error = message.get("error")
    if isinstance(error, dict):
        data = error.get("data")
        fault = data.get("fault", "-") if isinstance(data, dict) else "-"
        return "error", error.get("code", "-"), fault
    result = message.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        return "tool_error", "-", "-"
    return "ok", "-", "-"


def named_target(scope: Scope) -> str:
    """The tool, prompt or resource the call is about: as routed, else as the request named it."""
    name = scope["state"].get(TARGET_NAME)
    if not name:
        params = scope["params"]
        name = params.get("name") or params.get("uri")
        if not isinstance(name, str) or not name:
            return "-"
    text = str(name)
    return text if len(text) <= _NAME_CHARS else text[:_NAME_CHARS] + "..."


class AccessLog:
    def __init__(self, app: MCPApp, *, logger: str = "portcullis.access") -> None:
        self.app = app
        self.log = logging.getLogger(logger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        outcome: tuple[str, Any, Any] = ("notification" if scope["id"] is None else "no_response", "-", "-")

        async def record(event: Event) -> None:
            nonlocal outcome
            if event["type"] == RESPONSE:
                outcome = outcome_of(event["message"])
            await send(event)

        try:
            await self.app(scope, receive, record)
        except asyncio.CancelledError:
            outcome = ("cancelled", "-", "-")
            raise
        except Exception:
            outcome = ("gateway_error", "-", "gateway")
            raise
        finally:
            session = scope["session_id"]
            self.log.info(
                TEMPLATE,
                {
                    "method": scope["method"],
                    "server": scope["state"].get(TARGET_SERVER) or scope.get("server") or "-",
                    "name": named_target(scope),
                    "principal": scope["principal"].name,
                    "session": session[:8] if session else "-",
                    "outcome": outcome[0],
                    "code": outcome[1],
                    "fault": outcome[2],
                    "ms": (time.perf_counter() - started) * 1000,
                },
            )
