"""One structured access-log line per MCP message: who, what, where, outcome, latency.

Argument values never appear: they are the likeliest place for secrets and personal data.
"""

from __future__ import annotations

import asyncio
import logging
import time

from middleware.protocol import RESPONSE, Event, MCPApp, Principal, Receive, Scope, Send


def outcome_of(message: dict[str, object]) -> str:
    error = message.get("error")
    if isinstance(error, dict):
        return f"error {error.get('code')}"
    result = message.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        return "tool_error"
    return "ok"


class AccessLog:
    def __init__(self, app: MCPApp, *, logger: str = "portcullis.access") -> None:
        self.app = app
        self.log = logging.getLogger(logger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        outcome = "notification" if scope["id"] is None else "no_response"

        async def record(event: Event) -> None:
            nonlocal outcome
            if event["type"] == RESPONSE:
                outcome = outcome_of(event["message"])
            await send(event)

        try:
            await self.app(scope, receive, record)
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception:
            outcome = "gateway_error"
            raise
        finally:
            state = scope["state"]
            principal: Principal = scope["principal"]
            session = scope["session_id"]
            self.log.info(
                "method=%s server=%s name=%s principal=%s session=%s outcome=%s ms=%.2f",
                scope["method"],
                state.get("target_server") or scope.get("server") or "-",
                state.get("target_name") or "-",
                principal.name,
                session[:8] if session else "-",
                outcome.replace(" ", "_"),
                (time.perf_counter() - started) * 1000,
            )
