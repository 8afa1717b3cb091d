"""Per-method deadlines for requests.

When a deadline passes, the inner call is cancelled (the router then sends
``notifications/cancelled`` upstream) and the client gets a clear timeout error. A progress
notification proves the upstream is alive, so it pushes the deadline back, but only so far:
``progress_extends_up_to`` times the method's timeout after the call began (an upstream that
reports progress forever must not hold a call, and its upstream slot, for an hour), and never
past ``ceiling``, the absolute bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

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
    ) -> None:
        self.app = app
        self.default = _positive("default", default)
        self.methods = {
            method: _positive(f"methods.{method}", value) for method, value in (methods or {}).items()
        }
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
        seconds = self.methods.get(scope["method"], self.default)
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
