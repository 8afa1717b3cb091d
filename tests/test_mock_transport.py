"""The mock transport behind a real upstream connection: handshake, calls, a peer that hangs up."""

from __future__ import annotations

import asyncio

import pytest

from upstream.errors import UpstreamError
from upstream.session.connection import UpstreamConnection
from upstream.session.handshake import open_session
from upstream.transports.mock import MockTransport, mcp_server


async def opened(transport: MockTransport) -> UpstreamConnection:
    connection = UpstreamConnection(
        "mock", transport, client_info={"name": "t"}, on_notification=lambda *_: None
    )
    await open_session(connection, era="legacy", client_info={"name": "t"}, probe_timeout=None)
    return connection


async def test_a_call_through_the_mock_reaches_its_handler() -> None:
    transport = MockTransport(
        mcp_server({"shout": lambda args: str(args["text"]).upper()}, instructions="hi")
    )
    connection = await opened(transport)
    assert connection.identity is not None and connection.identity.instructions == "hi"
    answer = await connection.request("tools/call", {"name": "shout", "arguments": {"text": "ok"}})
    assert answer["result"]["content"][0]["text"] == "OK"
    assert [m.get("method") for m in transport.sent] == [
        "initialize",
        "notifications/initialized",
        "tools/call",
    ]
    await connection.close()


async def test_a_peer_that_hangs_up_fails_the_call_in_flight() -> None:
    def silent(message: dict[str, object]) -> None:
        return None

    transport = MockTransport(mcp_server({}))
    connection = await opened(transport)
    transport.handler = silent
    pending = asyncio.create_task(connection.request("tools/call", {"name": "anything"}))
    while transport.sent[-1].get("method") != "tools/call":
        await asyncio.sleep(0)
    transport.hang_up("exit code 1")
    with pytest.raises(UpstreamError, match="exit code 1"):
        await pending
