"""A client that reads slowly holds up only itself: the reader of a shared upstream never waits
on one client, so the other clients of the same upstream are served as promptly as ever."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from middleware.protocol import Message
from tests.support import (
    BOB_KEY,
    ROOT,
    RunningGateway,
    default_settings,
    initialize_raw,
    running_gateway,
    text_of,
)
from upstream.session.connection import UpstreamConnection
from upstream.session.handshake import open_session
from upstream.transports.mock import MockTransport, mcp_server

pytestmark = pytest.mark.timeout(90)

CHATTY = {"count": 300, "size": 65536}
"""About 20 MB of progress: more than the sockets between the gateway and a client buffer."""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One shared stdio upstream whose ``chatty`` tool streams large progress notifications."""
    upstream = {
        "command": "python",
        "args": [str(ROOT / "reliability" / "upstream_server.py"), "--name", "up"],
        "start": "eager",
    }
    with running_gateway(
        Path(tmp_path_factory.mktemp("slow")), default_settings({"up": upstream})
    ) as running:
        yield running


async def read_slowly(gateway: RunningGateway, reading: asyncio.Event, stop: asyncio.Event) -> int:
    """Call ``chatty`` with a progress token as a legacy client, and read its SSE answer a
    kilobyte every 50 ms until ``stop``; returns the bytes read."""
    tiny_buffer = [(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)]  # the kernel must not read for it
    transport = httpx2.AsyncHTTPTransport(socket_options=tiny_buffer)
    async with httpx2.AsyncClient(timeout=30, transport=transport) as http:
        session = await initialize_raw(http, gateway.url, gateway.headers())
        headers = gateway.headers(**{"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"})
        call = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "up__chatty", "arguments": CHATTY, "_meta": {"progressToken": "p"}},
        }
        read = 0
        async with http.stream("POST", gateway.url, headers=headers, json=call) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for chunk in response.aiter_raw(1024):
                read += len(chunk)
                reading.set()
                if stop.is_set():
                    break
                await asyncio.sleep(0.05)
        return read


async def test_a_slow_reader_of_progress_does_not_hold_up_other_clients(gateway: RunningGateway) -> None:
    """The user's view, end to end. Socket buffers absorb this load on this machine, so it also
    passed before the outbox; the in-process test below is the one that fails without it."""
    async with gateway.client(mode="legacy", key=BOB_KEY) as other:
        assert text_of(await other.call_tool("up__echo", {"text": "warm"})) == "warm"
        reading, stop = asyncio.Event(), asyncio.Event()
        slow = asyncio.create_task(read_slowly(gateway, reading, stop))
        await asyncio.wait_for(reading.wait(), 10)
        await asyncio.sleep(0.5)  # the upstream has long sent more than the slow client took
        try:
            for attempt in range(3):
                started = time.monotonic()
                assert text_of(await other.call_tool("up__echo", {"text": f"e{attempt}"})) == f"e{attempt}"
                assert time.monotonic() - started < 0.5, "another client's slow reading held this call up"
        finally:
            stop.set()
        assert await asyncio.wait_for(slow, 10) > 0
        assert text_of(await other.call_tool("up__echo", {"text": "after"})) == "after"


class StuckClient:
    """A call's channel whose client never takes a notification (it reads nothing)."""

    client_capabilities: dict[str, Any] = {}
    speaks_mrtr = False
    waiting_on_client = False
    log_level = None

    def __init__(self) -> None:
        self.offered = 0

    async def notify(self, message: Message) -> None:
        self.offered += 1
        await asyncio.Event().wait()

    async def ask(self, request: Message) -> Message:
        raise AssertionError("not asked")


async def test_in_process_a_stuck_client_does_not_stall_the_shared_reader() -> None:
    """The same, in process: a call's client that takes no notification at all, while its
    upstream sends hundreds; another call on the connection is answered at once."""
    server = mcp_server({"echo": lambda args: str(args["text"])})

    def handler(message: Message) -> Any:
        params = message.get("params") or {}
        if params.get("name") != "chatty":
            return server(message)
        token = params["_meta"]["progressToken"]
        notice = {"jsonrpc": "2.0", "method": "notifications/progress"}
        return [{**notice, "params": {"progressToken": token, "progress": step}} for step in range(500)]

    transport = MockTransport(handler)
    connection = UpstreamConnection("mock", transport, client_info={"name": "t"}, on_notification=print)
    await open_session(connection, era="legacy", client_info={"name": "t"}, probe_timeout=None)
    stuck = StuckClient()
    chatty = {"name": "chatty", "arguments": {}, "_meta": {"progressToken": "p"}}
    slow = asyncio.create_task(connection.request("tools/call", chatty, channel=stuck))
    try:
        answer = await asyncio.wait_for(
            connection.request("tools/call", {"name": "echo", "arguments": {"text": "hi"}}), 0.5
        )
        assert answer["result"]["content"][0]["text"] == "hi"
        assert stuck.offered == 1
    finally:
        slow.cancel()
        await connection.close()
