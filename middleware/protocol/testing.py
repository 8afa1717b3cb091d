"""Run one MCP-tier call in process, without HTTP: for unit tests of middlewares and the router.

``events = await call(app, make_test_scope("tools/call", {"name": "x"}))`` runs the app to its
end and returns every event it sent, the final ``mcp.response`` last. Answers the app expects
from the client (for the server-to-client requests it relays) are given up front as
``client_answers``, in order. A third party testing its own middleware uses it the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from middleware.protocol.jsonrpc import Message
from middleware.protocol.scope import (
    ANONYMOUS,
    CLIENT_RESPONSE,
    LEGACY_VERSIONS,
    ClientResponseEvent,
    Event,
    MCPApp,
    MCPScope,
    Principal,
    make_scope,
)


def make_test_scope(
    method: str,
    params: dict[str, Any] | None = None,
    *,
    request_id: Any = 1,
    principal: Principal = ANONYMOUS,
    session_id: str | None = "test-session",
    protocol_version: str = LEGACY_VERSIONS[0],
    client_capabilities: dict[str, Any] | None = None,
    server: str | None = None,
) -> MCPScope:
    """A scope as a legacy front would build it, with harmless defaults."""
    return make_scope(
        method=method,
        request_id=request_id,
        params=params or {},
        principal=principal,
        session_id=session_id,
        protocol_version=protocol_version,
        client_capabilities=client_capabilities or {},
        client_info={"name": "in-process", "version": "0"},
        server=server,
        http={"type": "http", "headers": []},
    )


async def call(
    app: MCPApp,
    scope: MCPScope,
    *,
    client_answers: Iterable[Message] = (),
    patience: float = 10.0,
) -> list[Event]:
    """Every event ``app`` sends for ``scope``; raises TimeoutError if it does not finish."""
    sent: list[Event] = []
    answers: asyncio.Queue[ClientResponseEvent] = asyncio.Queue()
    for answer in client_answers:
        answers.put_nowait({"type": CLIENT_RESPONSE, "message": answer})

    async def receive() -> Event:
        return await answers.get()

    async def send(event: Event) -> None:
        sent.append(event)

    async with asyncio.timeout(patience):
        await app(scope, receive, send)
    return sent
