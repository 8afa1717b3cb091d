"""A middleware written outside the project, as a third party would: it only knows the
MCP-tier contract (``middleware.protocol``) and is plugged in by import path in settings."""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Any

from middleware.protocol import RESPONSE, Event, MCPApp, Receive, Scope, Send, tool_error


class DenyTools:
    """Refuse calls to tools whose exposed name matches a pattern."""

    def __init__(self, app: MCPApp, *, patterns: list[str]) -> None:
        self.app = app
        self.patterns = patterns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "tools/call":
            await self.app(scope, receive, send)
            return
        name = str(scope["params"].get("name", ""))
        if any(fnmatch(name, pattern) for pattern in self.patterns):
            await send(tool_error(scope, f"tool {name!r} is not allowed here"))
            return
        await self.app(scope, receive, send)


class RedactWord:
    """Rewrite what flows back, one event at a time."""

    def __init__(self, app: MCPApp, *, word: str) -> None:
        self.app = app
        self.word = word

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def redacted(event: Event) -> None:
            if event["type"] == RESPONSE and "result" in event["message"]:
                result: dict[str, Any] = event["message"]["result"]
                for block in result.get("content", []):
                    if block.get("type") == "text":
                        block["text"] = block["text"].replace(self.word, "[redacted]")
            await send(event)

        await self.app(scope, receive, redacted)
