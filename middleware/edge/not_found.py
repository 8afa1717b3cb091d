"""404 for paths that are no route, answered before authentication.

A path no route could ever serve reveals nothing about the configuration, so a caller without
credentials learns it is wrong (404) instead of being asked for a key it may well have (401).
API-looking paths get a JSON body, so that an MCP client or a script can read the error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from middleware.protocol.errors import NotFoundError
from middleware.protocol.http import (
    ASGIApp,
    ASGIReceive,
    ASGIScope,
    ASGISend,
    header,
    send_error,
    send_json,
)

MCP_PREFIXES: Final = ("/mcp", "/servers/")
"""Paths an MCP client would call: answered with a JSON-RPC error body."""
API_PREFIXES: Final = ("/api",)
_SHOWN: Final = 100
"""Characters of a path quoted back."""


def _shown(path: str) -> str:
    return path if len(path) <= _SHOWN else path[:_SHOWN] + "..."


async def send_not_found(scope: ASGIScope, send: ASGISend, why: str) -> None:
    """404: a JSON-RPC error for MCP paths, ``{"error": ...}`` for other API-looking paths or a
    caller asking for JSON, plain text for the rest (browsers, probes)."""
    path: str = scope["path"]
    if path.startswith(MCP_PREFIXES):
        await send_error(send, NotFoundError(why))
    elif path.startswith(API_PREFIXES) or b"json" in (header(scope, b"accept") or b""):
        await send_json(send, 404, {"error": why})
    else:
        body = b"Not Found\n"
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def no_route(path: str) -> str:
    return f"Not Found: no endpoint at {_shown(path)!r}; MCP is served at /mcp and /servers/NAME/mcp"


class NotFound:
    """Answer 404 for any HTTP path ``is_route`` refuses; pass everything else on."""

    def __init__(self, app: ASGIApp, *, is_route: Callable[[str], bool]) -> None:
        self.app = app
        self.is_route = is_route

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http" or self.is_route(scope["path"]):
            await self.app(scope, receive, send)
            return
        await send_not_found(scope, send, no_route(scope["path"]))
