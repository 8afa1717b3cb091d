"""An in-memory transport, first-class like httpx's ``MockTransport``: the peer is a function.

``MockTransport(handler)`` calls ``handler(message)`` for every message the gateway sends and
delivers whatever it returns (a message, a list of them, or None) as the peer's answers, in
order. ``push()`` delivers an unsolicited message (a notification, a server request), and
``hang_up()`` ends the connection as a crashed peer would. It lets the router, the upstream
session and the middlewares be tested in process, with no subprocess and no socket, and lets a
test play an upstream that misbehaves in ways no real server can be made to on demand.

``mcp_server()`` is a handler for a small, well-behaved legacy MCP server with tools.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from middleware.protocol import Message
from upstream.transports.base import NO_FEATURES, Received, TransportClosed
from upstream.transports.envelope import screen

Reply = Message | Iterable[Message] | None
Handler = Callable[[Message], Reply | Awaitable[Reply]]

_END = object()


class MockTransport:
    """A transport whose peer is ``handler``; see the module docstring. What the peer says is
    screened as a real transport's is (:func:`~upstream.transports.envelope.screen`)."""

    features = NO_FEATURES

    def __init__(self, handler: Handler, *, name: str = "mock", description: str = "mock") -> None:
        self.handler = handler
        self.name = name
        self.description = description
        self.sent: list[Message] = []
        """Every message the gateway sent, in order (for assertions)."""
        self.connected = False
        self.closed = False
        self._inbox: asyncio.Queue[Received | object] = asyncio.Queue()
        self._ended: str | None = None

    async def connect(self) -> None:
        if self.closed:
            raise TransportClosed("the mock transport was closed")
        self.connected = True

    async def send(self, message: Message, headers: Mapping[str, str] | None = None) -> None:
        if self._ended is not None or self.closed:
            raise TransportClosed(self._ended or "closed")
        self.sent.append(message)
        reply = self.handler(message)
        if inspect.isawaitable(reply):
            reply = await reply
        for answer in _as_messages(reply):
            self._inbox.put_nowait((answer, None))

    async def receive(self) -> Received:
        item = await self._inbox.get()
        if item is _END:
            self._inbox.put_nowait(_END)  # every later receive ends too
            raise TransportClosed(self._ended or "closed")
        assert isinstance(item, tuple)
        message, related = item
        return screen(message, self.name), related

    def abandon(self, request_id: object) -> bool:
        return False

    def ended(self) -> str | None:
        """Set once the mock peer hung up."""
        return self._ended

    async def close(self) -> None:
        self.closed = True
        self.hang_up("closed")

    def push(self, message: Message) -> None:
        """Deliver a message the peer sends on its own."""
        self._inbox.put_nowait((message, None))

    def hang_up(self, detail: str = "the mock peer hung up") -> None:
        """End the connection from the peer's side, as a crash would."""
        if self._ended is None:
            self._ended = detail
            self._inbox.put_nowait(_END)


def _as_messages(reply: Reply) -> list[Message]:
    if reply is None:
        return []
    if isinstance(reply, Mapping):
        return [dict(reply)]
    return list(reply)  # as the peer wrote them: the transport screens what is not a message


def mcp_server(
    tools: Mapping[str, Callable[[dict[str, Any]], str]],
    *,
    name: str = "mock",
    instructions: str | None = None,
) -> Handler:
    """A handler speaking legacy MCP (initialize, tools/list, tools/call, ping): each tool is a
    function of its arguments returning text. Unknown methods get -32601."""

    def handle(message: Message) -> Reply:
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            return None  # notifications need no answer
        params = message.get("params") or {}
        if method == "initialize":
            result: dict[str, Any] = {
                "protocolVersion": params.get("protocolVersion", "2025-11-25"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": name, "version": "0"},
            }
            if instructions is not None:
                result["instructions"] = instructions
        elif method == "tools/list":
            result = {"tools": [{"name": t, "inputSchema": {"type": "object"}} for t in tools]}
        elif method == "tools/call" and params.get("name") in tools:
            text = tools[params["name"]](params.get("arguments") or {})
            result = {"content": [{"type": "text", "text": text}]}
        elif method == "ping":
            result = {}
        else:
            error = {"code": -32601, "message": f"no method {method!r} here"}
            return {"jsonrpc": "2.0", "id": request_id, "error": error}
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    return handle
