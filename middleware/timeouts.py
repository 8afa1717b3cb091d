"""Per-method deadlines for requests.

When a deadline passes, the inner call is cancelled (the router then sends
``notifications/cancelled`` upstream) and the client gets a clear timeout error. A progress
notification proves the upstream is alive, so it pushes the deadline back, but only so far:
``progress_extends_up_to`` times the method's timeout after the call began (an upstream that
reports progress forever must not hold a call, and its upstream slot, for an hour), and never
past ``ceiling``, the absolute bound.

Each request also has an operation type, the seed's timeout manager's vocabulary:
``tool_execution`` (``tools/call``), ``discovery`` (lists, ``initialize``) and ``default``; a
type's option sets its deadline unless ``methods`` names the method. :data:`OPERATIONS` counts
operations and timeouts per type (``guardrail``, ``auth``, ``cache`` and ``connectivity`` are
counted by whoever runs them), so metrics and admin tools read one object; it lives in
``middleware.protocol.operations``, where every layer may reach it, and is re-exported here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Final

from middleware.protocol import (
    NOTIFICATION,
    RESPONSE,
    Event,
    MCPApp,
    Receive,
    Scope,
    Send,
    UpstreamTimeout,
    response_event,
)
from middleware.protocol.operations import OPERATION_TYPES, OPERATIONS, OperationCount, OperationStats

__all__ = [
    "DISCOVERY",
    "OPERATIONS",
    "OPERATION_TYPES",
    "OperationCount",
    "OperationStats",
    "Timeouts",
    "operation_type",
]

DISCOVERY: Final = frozenset(
    {
        "initialize",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "server/discover",
    }
)


def operation_type(method: str) -> str:
    """The operation type of a request this middleware times."""
    if method == "tools/call":
        return "tool_execution"
    return "discovery" if method in DISCOVERY else "default"


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number of seconds, not {value!r}")
    return float(value)


class Timeouts:
    def __init__(
        self,
        app: MCPApp,
        *,
        default: float = 60.0,
        methods: Mapping[str, float] | None = None,
        ceiling: float = 3600.0,
        progress_extends_up_to: float = 4.0,
        tool_execution: float | None = None,
        discovery: float | None = None,
        stats: OperationStats = OPERATIONS,
    ) -> None:
        self.app = app
        self.default = _positive("default", default)
        self.types = {
            "default": self.default,
            "tool_execution": self.default
            if tool_execution is None
            else _positive("tool_execution", tool_execution),
            "discovery": self.default if discovery is None else _positive("discovery", discovery),
        }
        self.methods = {
            method: _positive(f"methods.{method}", value) for method, value in (methods or {}).items()
        }
        self.stats = stats
        for kind, seconds in self.types.items():
            stats.configure(kind, seconds)
        self.ceiling = _positive("ceiling", ceiling)
        factor = progress_extends_up_to
        if isinstance(factor, bool) or not isinstance(factor, int | float) or factor < 1:
            raise ValueError(
                "`progress_extends_up_to` is a multiple of the method's timeout, at least 1 "
                f"(1: progress never extends a deadline), not {factor!r}"
            )
        self.progress_extends_up_to = float(factor)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["id"] is None:
            await self.app(scope, receive, send)
            return
        kind = operation_type(scope["method"])
        seconds = self.methods.get(scope["method"]) or self.types[kind]
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            timed_out = await self._call(scope, receive, send, seconds)
        except BaseException:
            self.stats.record(kind, loop.time() - started)
            raise
        self.stats.record(kind, loop.time() - started, timed_out=timed_out)

    async def _call(self, scope: Scope, receive: Receive, send: Send, seconds: float) -> bool:
        """The call under its deadline; whether it timed out (and was answered so)."""
        loop = asyncio.get_running_loop()
        hard_stop = loop.time() + min(self.ceiling, seconds * self.progress_extends_up_to)
        responded = False
        extended = False
        deadline = asyncio.timeout(seconds)

        async def watch(event: Event) -> None:
            nonlocal responded, extended
            if event["type"] == RESPONSE:
                responded = True
            elif event["type"] == NOTIFICATION and event["message"]["method"] == "notifications/progress":
                extended = True
                deadline.reschedule(min(loop.time() + seconds, hard_stop))
            await send(event)

        try:
            async with deadline:
                await self.app(scope, receive, watch)
        except TimeoutError:
            if not deadline.expired() or responded:
                raise
            await send(self._timed_out(scope, seconds, extended))
            return True
        return False

    def _timed_out(self, scope: Scope, seconds: float, extended: bool) -> Event:
        if extended:
            most = min(self.ceiling, seconds * self.progress_extends_up_to)
            why = (
                f"{scope['method']} got no answer within {seconds:g}s of its last progress, or within "
                f"{most:g}s in all (progress extends a deadline up to progress_extends_up_to = "
                f"{self.progress_extends_up_to:g} times it)"
            )
        else:
            why = f"{scope['method']} got no answer within {seconds:g}s"
        error = UpstreamTimeout(
            f"{why}; the upstream call was cancelled (raise the limits in the Timeouts middleware "
            "options if it is legitimately slow)",
            data={"timeout": seconds},
        )
        return response_event(error.to_message(scope["id"]))
