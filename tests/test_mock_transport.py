"""The mock transport behind a real upstream connection: handshake, calls, a peer that hangs up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from middleware.protocol import META_SUBSCRIPTION_ID
from upstream.errors import UpstreamError
from upstream.session.connection import UpstreamConnection
from upstream.session.handshake import adopt_modern, open_session
from upstream.session.listen import ACKNOWLEDGED
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


async def test_concurrent_subscribes_to_a_modern_upstream_all_reach_the_listen_filter() -> None:
    """Two subscribes that wait behind a third must both land: each new set of URIs is built
    from the latest one, not from the set seen before waiting."""
    listens: list[dict[str, Any]] = []
    acking = False

    def ack(request: dict[str, Any]) -> dict[str, Any]:
        meta = {META_SUBSCRIPTION_ID: request["id"]}
        return {"jsonrpc": "2.0", "method": ACKNOWLEDGED, "params": {"_meta": meta}}

    def modern_server(message: dict[str, Any]) -> Any:
        if message.get("method") == "subscriptions/listen":
            listens.append(message)
            return ack(message) if acking else None  # the stream stays open: no answer
        return None

    transport = MockTransport(modern_server)
    connection = UpstreamConnection(
        "mock", transport, client_info={"name": "t"}, on_notification=lambda *_: None
    )
    await connection.connect()
    capabilities = {"resources": {"subscribe": True}}
    adopt_modern(connection, "2026-07-28", {"capabilities": capabilities}, {"name": "t"})
    first = asyncio.create_task(connection.request("resources/subscribe", {"uri": "file:///x"}))
    while not listens:
        await asyncio.sleep(0)
    # The first waits for its acknowledgement, holding the listener; two more queue up behind it.
    others = [
        asyncio.create_task(connection.request("resources/subscribe", {"uri": uri}))
        for uri in ("file:///a", "file:///b")
    ]
    for _ in range(5):
        await asyncio.sleep(0)
    acking = True
    transport.push(ack(listens[0]))
    answers = await asyncio.wait_for(asyncio.gather(first, *others), 5)
    assert all("result" in answer for answer in answers)
    last = listens[-1]["params"]["notifications"]["resourceSubscriptions"]
    assert last == ["file:///a", "file:///b", "file:///x"]
    await connection.close()
