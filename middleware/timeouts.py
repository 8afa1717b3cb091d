"""Per-method deadlines for requests.

When a deadline passes, the inner call is cancelled (the router then sends
``notifications/cancelled`` upstream) and the client gets a clear timeout error. A progress
notification proves the upstream is alive, so it pushes the deadline back, up to a ceiling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from middleware.protocol import (
    NOTIFICATION,
    REQUEST_TIMEOUT,
    RESPONSE,
    Event,
    MCPApp,
    Receive,
    Scope,
    Send,
    error_event,
)


class Timeouts:
    def __init__(
        self,
        app: MCPApp,
        *,
        default: float = 60.0,
        methods: Mapping[str, float] | None = None,
        ceiling: float = 3600.0,
    ) -> None:
        self.app = app
        self.default = default
        self.methods = dict(methods or {})
        self.ceiling = ceiling

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["id"] is None:
            await self.app(scope, receive, send)
            return
        seconds = self.methods.get(scope["method"], self.default)
        loop = asyncio.get_running_loop()
        hard_stop = loop.time() + self.ceiling
        responded = False
        deadline = asyncio.timeout(seconds)

        async def watch(event: Event) -> None:
            nonlocal responded
            if event["type"] == RESPONSE:
                responded = True
            elif event["type"] == NOTIFICATION and event["message"]["method"] == "notifications/progress":
                deadline.reschedule(min(loop.time() + seconds, hard_stop))
            await send(event)

        try:
            async with deadline:
                await self.app(scope, receive, watch)
        except TimeoutError:
            if not deadline.expired() or responded:
                raise
            await send(
                error_event(
                    scope,
                    REQUEST_TIMEOUT,
                    f"{scope['method']} got no answer within {seconds:g}s; the upstream call was "
                    "cancelled (raise the limit in the Timeouts middleware options if it is "
                    "legitimately slow)",
                    fault="upstream",
                    data={"timeout": seconds},
                )
            )
