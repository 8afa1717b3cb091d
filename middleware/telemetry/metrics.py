"""Prometheus metrics of the MCP tier: one count and one latency per request, errors by fault.

:class:`CallMetrics` is an ordinary MCP-tier middleware; the composition root puts it outermost,
so it sees every answer, refusals included. Every label value is bounded: methods outside the
MCP vocabulary count as ``other``, servers come from the configuration, a tool is labelled only
once the router's catalog knows it (and at most ``max_tools`` per server), and nothing the caller
controls (session ids, principals, arguments) ever becomes a label.

Per call the cost is two clock reads, a wrapped ``send``, and two dictionary updates on plain
:class:`~middleware.telemetry.metrics_store.Counts` (exported only when Prometheus scrapes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

from middleware.protocol import (
    RATE_LIMITED,
    RESPONSE,
    TARGET_NAME,
    TARGET_SERVER,
    Event,
    MCPApp,
    Receive,
    Scope,
    Send,
)
from middleware.telemetry.metrics_store import OTHER, Bounded, Counts, Latency

NONE: Final = "-"
METHODS: Final = frozenset(
    {
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "completion/complete",
        "logging/setLevel",
        "server/discover",
        "subscriptions/listen",
        "tasks/get",
        "tasks/list",
        "tasks/result",
        "tasks/cancel",
    }
)
"""Methods labelled by name; anything else a client sends is ``other``."""
FAULTS: Final = frozenset({"client", "policy", "upstream", "gateway"})
ToolOwner = Callable[[str], tuple[str, str] | None]
"""A tool name as the client sent it -> (server, name on that server), from the catalog, no I/O."""


class CacheCounters(Protocol):
    """What a cache calls on each lookup. ``cache`` names the cache, not the key (a method such
    as ``tools/list`` or ``tool_result``): keys hold arguments and principals."""

    def hit(self, cache: str) -> None: ...

    def miss(self, cache: str) -> None: ...


def outcome_of(message: dict[str, Any] | None) -> tuple[str, str | None, Any]:
    """(outcome, fault, error) of an answer; fault is None unless it is a JSON-RPC error."""
    if message is None:
        return "no_response", None, None
    error = message.get("error")
    if isinstance(error, dict):
        data = error.get("data")
        fault = data.get("fault") if isinstance(data, dict) else None
        return "error", fault if fault in FAULTS else "unknown", error
    result = message.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        return "tool_error", None, None
    return "ok", None, None


class CallMetrics:
    """Counts and times every request; notifications pass through untouched."""

    def __init__(
        self,
        app: MCPApp,
        *,
        counts: Counts,
        tool_owner: ToolOwner | None = None,
        max_tools: int = 500,
    ) -> None:
        self.app = app
        self.counts = counts
        self._requests = counts.requests
        self._latency = counts.latency
        self.tool_owner = tool_owner
        self.max_tools = max_tools
        self._tools: dict[str, Bounded] = {}
        self._rule = Bounded(64)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["id"] is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer: list[dict[str, Any]] = []

        async def observe(event: Event) -> None:
            if event["type"] == RESPONSE:
                answer.append(event["message"])
            await send(event)

        failed: str | None = None
        try:
            await self.app(scope, receive, observe)
        except asyncio.CancelledError:
            failed = "cancelled"
            raise
        except Exception:
            failed = "gateway"
            raise
        finally:
            self._record(scope, answer[0] if answer else None, failed, time.perf_counter() - started)

    def _record(
        self, scope: Scope, message: dict[str, Any] | None, failed: str | None, elapsed: float
    ) -> None:
        method = scope["method"] if scope["method"] in METHODS else OTHER
        server, tool = self._target(scope, method)
        if failed == "cancelled":
            outcome, fault, error = "cancelled", None, None
        elif failed is not None:
            outcome, fault, error = "error", "gateway", None
        else:
            outcome, fault, error = outcome_of(message)
        key = (method, server, tool, outcome)
        self._requests[key] = self._requests.get(key, 0) + 1
        where = (method, server, tool)
        series = self._latency.get(where)
        if series is None:
            series = self._latency[where] = Latency()
        series.observe(elapsed)
        if fault is not None:
            self._count_error(method, server, fault, error)

    def _target(self, scope: Scope, method: str) -> tuple[str, str]:
        """(server, tool) labels: both as routed; for a call refused before routing, as the
        catalog knows the name; a tool only for tools/call."""
        state = scope["state"]
        routed: str = state.get(TARGET_SERVER) or scope["server"] or NONE
        if method != "tools/call":
            return routed, NONE
        name = state.get(TARGET_NAME) if routed != NONE else None
        server = routed
        if name is None:
            raw = scope["params"].get("name")
            owner = self.tool_owner(raw) if self.tool_owner is not None and isinstance(raw, str) else None
            if owner is None:
                return routed, OTHER
            server, name = owner
        bounded = self._tools.get(server)
        if bounded is None:
            bounded = self._tools[server] = Bounded(self.max_tools)
        return server, bounded(str(name))

    def _count_error(self, method: str, server: str, fault: str, error: Any) -> None:
        errors = self.counts.errors
        key = (method, server, fault)
        errors[key] = errors.get(key, 0) + 1
        if fault == "policy" and error is not None and error.get("code") == RATE_LIMITED:
            data = error.get("data")
            limit = data.get("limit") if isinstance(data, dict) else None
            rule = self._rule(limit if isinstance(limit, str) else OTHER)
            self.counts.refusals[rule] = self.counts.refusals.get(rule, 0) + 1
