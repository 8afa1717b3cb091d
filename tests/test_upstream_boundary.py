"""The upstream boundary: whatever an upstream sends, nothing malformed gets past its transport.

A malformed answer to a call becomes an upstream-fault error for that call (stdio, streamable
HTTP, the mock transport alike); what breaks a stdio pipe's framing ends that session as a crash
does, failing the calls in flight at once; a stderr flood costs the log a few lines.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from aiohttp import web
from mcp import MCPError

from tests.fixtures.hostile_server import MALFORMED as ANSWERS
from tests.support import (
    ROOT,
    RunningGateway,
    default_settings,
    free_port,
    pid_of,
    running_gateway,
    start_gateway,
    text_of,
)
from upstream.errors import UpstreamBrokeProtocol, UpstreamError
from upstream.session.connection import UpstreamConnection
from upstream.session.handshake import open_session
from upstream.transports.envelope import envelope_problem
from upstream.transports.mock import MockTransport, mcp_server

pytestmark = pytest.mark.timeout(120)

HOSTILE = ROOT / "tests" / "fixtures" / "hostile_server.py"
UPSTREAM_UNAVAILABLE = -32012
MODERN = "2026-07-28"

MALFORMED = {
    # tool (and case) -> what the error must say was wrong
    "no_result": 'neither "result" nor "error"',
    "string_result": '"result" that is a string',
    "null_result": '"result" that is null',
    "string_error": '"error" that is a string',
    "error_without_code": '"code" is not an integer',
    "error_with_string_code": '"code" is not an integer',
    "error_without_message": '"message" is not a string',
    "jsonrpc_1": "\"jsonrpc\" is '1.0'",
    "result_and_error": 'both "result" and "error"',
}
BROKEN = {
    # tool -> what the error must say (the session is replaced)
    "garbage": "not JSON",
    "non_object": "an array where a JSON-RPC message",
    "not_jsonrpc": '"jsonrpc" is None',
    "unknown_id": "987654, which the gateway never sent",
    "half_line": "not JSON",
}


def hostile_server(**settings: Any) -> dict[str, Any]:
    return {
        "command": "python",
        "args": [str(HOSTILE)],
        "era": "legacy",
        "start": "eager",
        "restart": {"backoff_initial": 0.05, "backoff_max": 0.1, "max_restarts": 100},
        **settings,
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = default_settings(
        {"hostile": hostile_server()},
        middleware=[{"use": "middleware.timeouts:Timeouts", "options": {"default": 30}}],
    )
    with running_gateway(Path(tmp_path_factory.mktemp("hostile")), settings) as running:
        yield running


def assert_upstream_fault(error: MCPError, *phrases: str) -> None:
    assert error.code == UPSTREAM_UNAVAILABLE, error.message
    assert error.data is not None and error.data["fault"] == "upstream", error.data
    for phrase in ("'hostile", "broke the protocol", *phrases):
        assert phrase in error.message, error.message


# --- over stdio, through the real gateway ----------------------------------------------------


@pytest.mark.parametrize("case", MALFORMED)
async def test_a_malformed_answer_is_an_upstream_fault_and_the_session_lives(
    hostile: RunningGateway, case: str
) -> None:
    async with hostile.client(mode="legacy") as client:
        before = await pid_of(client, "hostile__pid")
        started = time.monotonic()
        with pytest.raises(MCPError) as caught:
            await client.call_tool(f"hostile__{case}", {}, read_timeout_seconds=20)
        assert time.monotonic() - started < 1.5
        assert_upstream_fault(caught.value, MALFORMED[case])
        assert text_of(await client.call_tool("hostile__echo", {"text": "next"})) == "next"
        assert await pid_of(client, "hostile__pid") == before, "one bad answer is no crash"


@pytest.mark.parametrize("case", BROKEN)
async def test_a_broken_pipe_fails_the_call_at_once_and_the_server_is_replaced(
    hostile: RunningGateway, case: str
) -> None:
    async with hostile.client(mode="legacy") as client:
        before = await pid_of(client, "hostile__pid")
        started = time.monotonic()
        with pytest.raises(MCPError) as caught:
            await client.call_tool(f"hostile__{case}", {}, read_timeout_seconds=20)
        assert time.monotonic() - started < 1.5, "a protocol violation must not wait for a timeout"
        assert_upstream_fault(caught.value, BROKEN[case])
        assert text_of(await client.call_tool("hostile__echo", {"text": "next"})) == "next"
        assert await pid_of(client, "hostile__pid") != before


async def test_after_a_half_written_line_the_calls_in_flight_fail_and_the_next_works(
    hostile: RunningGateway,
) -> None:
    async with hostile.client(mode="legacy") as client:
        await pid_of(client, "hostile__pid")
        quiet = asyncio.create_task(
            client.call_tool("hostile__half_line_then_quiet", {}, read_timeout_seconds=20)
        )
        await asyncio.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(MCPError) as caught:
            await client.call_tool("hostile__echo", {"text": "lost?"}, read_timeout_seconds=20)
        assert_upstream_fault(caught.value, "not JSON")
        with pytest.raises(MCPError) as first:
            await asyncio.wait_for(quiet, 5)
        assert_upstream_fault(first.value, "not JSON")
        assert time.monotonic() - started < 1.5
        assert text_of(await client.call_tool("hostile__echo", {"text": "next"})) == "next"


async def test_the_2026_front_answers_a_string_error_with_a_well_formed_error(
    hostile: RunningGateway,
) -> None:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    message = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "hostile__string_error", "arguments": {}, "_meta": meta},
    }
    headers = {
        **hostile.headers(),
        "content-type": "application/json",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "hostile__string_error",
    }
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as http:
        response = await http.post(hostile.url, headers=headers, content=orjson.dumps(message))
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        text = [line[5:] for line in text.splitlines() if line.startswith("data:")][-1]
    answer = orjson.loads(text)
    assert answer["id"] == 7, answer
    assert answer["error"]["code"] == UPSTREAM_UNAVAILABLE, answer
    assert answer["error"]["data"]["fault"] == "upstream"
    assert '"error" that is a string' in answer["error"]["message"]
    assert "AttributeError" not in hostile.log()


async def test_a_stderr_flood_leaves_the_log_bounded_and_the_server_working(tmp_path: Path) -> None:
    settings = default_settings({"hostile": hostile_server()})
    with running_gateway(tmp_path, settings) as gateway:
        async with gateway.client(mode="legacy") as client:
            await pid_of(client, "hostile__pid")
            size = gateway.log_path.stat().st_size
            flooded = await client.call_tool("hostile__flood", {"megabytes": 20}, read_timeout_seconds=60)
            assert text_of(flooded) == "flooded"
            assert text_of(await client.call_tool("hostile__echo", {"text": "after"})) == "after"
            assert text_of(await client.call_tool("hostile__echo", {"text": "again"})) == "again"
        # The relay reads stderr on its own task and says what it suppressed within a second.
        deadline = time.monotonic() + 20
        while "suppressed" not in gateway.log() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        grown = gateway.log_path.stat().st_size - size
        assert grown < 256 * 1024, f"a 20 MB stderr flood grew the log by {grown} bytes"
        log = gateway.log()
        assert "bytes cut)" in log
        assert "suppressed" in log


# --- over streamable HTTP: a raw server that answers a call with the malformation named -------


def http_body(case: str, request_id: Any) -> bytes:
    if case in ANSWERS:
        return orjson.dumps(ANSWERS[case](request_id))
    return {"garbage": b"this is not json", "non_object": b"42", "not_jsonrpc": b'{"a": 1}'}[case]


async def raw_mcp(request: web.Request) -> web.StreamResponse:
    message = orjson.loads(await request.read())
    method, request_id = message.get("method"), message.get("id")
    if request_id is None:
        return web.Response(status=202)
    if method == "initialize":
        result = {
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "raw"},
        }
        body = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})
        return web.Response(body=body, content_type="application/json", headers={"Mcp-Session-Id": "s1"})
    if method == "tools/list":
        tools = [{"name": c, "inputSchema": {"type": "object"}} for c in [*MALFORMED, *HTTP_BROKEN, "echo"]]
        body = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": {"tools": tools}})
        return web.Response(body=body, content_type="application/json")
    name = message["params"]["name"]
    if name == "echo":
        result = {"content": [{"type": "text", "text": "echo"}]}
        body = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "result": result})
    else:
        body = http_body(name, request_id)
    return web.Response(body=body, content_type="application/json")


HTTP_BROKEN = {
    "garbage": "not JSON",
    "non_object": "a number where a JSON-RPC message",
    "not_jsonrpc": '"jsonrpc" is None',
}


@pytest.fixture
async def raw_server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/mcp", raw_mcp)
    app.router.add_get("/mcp", lambda _: web.Response(status=405))
    app.router.add_delete("/mcp", lambda _: web.Response(status=200))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/mcp"
    await runner.cleanup()


async def test_malformed_http_answers_are_upstream_faults(raw_server: str, tmp_path: Path) -> None:
    server = {"url": raw_server, "transport": "streamable-http", "era": "legacy"}
    gateway = await asyncio.to_thread(start_gateway, tmp_path, default_settings({"hostile_http": server}))
    try:
        async with gateway.client(mode="legacy") as client:
            for case, phrase in {**MALFORMED, **HTTP_BROKEN}.items():
                started = time.monotonic()
                with pytest.raises(MCPError) as caught:
                    await client.call_tool(f"hostile_http__{case}", {}, read_timeout_seconds=20)
                assert time.monotonic() - started < 1.5, case
                assert_upstream_fault(caught.value, phrase)
                assert text_of(await client.call_tool("hostile_http__echo", {})) == "echo", case
    finally:
        await asyncio.to_thread(gateway.stop)


# --- in process, with the mock transport -----------------------------------------------------


def hostile_handler(case: str) -> Any:
    """The mock server, except that tools/call answers with the malformation ``case``."""
    normal = mcp_server({})

    def handle(message: dict[str, Any]) -> Any:
        if message.get("method") == "tools/call":
            return ANSWERS[case](message["id"])
        return normal(message)

    return handle


async def opened(transport: MockTransport) -> UpstreamConnection:
    connection = UpstreamConnection(
        "mock", transport, client_info={"name": "t"}, on_notification=lambda *_: None
    )
    await open_session(connection, era="legacy", client_info={"name": "t"}, probe_timeout=None)
    return connection


@pytest.mark.parametrize("case", MALFORMED)
async def test_the_mock_transport_screens_answers_as_the_real_ones_do(case: str) -> None:
    connection = await opened(MockTransport(hostile_handler(case)))
    answer = await connection.request("tools/call", {"name": "x"})
    assert answer["error"]["data"]["fault"] == "upstream"
    assert MALFORMED[case] in answer["error"]["message"]
    assert "'mock' broke the protocol" in answer["error"]["message"]
    assert connection.closed_reason is None
    await connection.close()


@pytest.mark.parametrize(
    ("pushed", "phrase"),
    [
        ("a string", "a string where a JSON-RPC message"),
        ({"jsonrpc": "2.0", "id": 999, "result": {}}, "999, which the gateway never sent"),
        ({"jsonrpc": "2.0", "id": "ours?", "result": {}}, "'ours\\?', which the gateway never sent"),
        ({"jsonrpc": "2.0", "result": {}}, "neither a request, a notification nor a response"),
    ],
)
async def test_what_cannot_be_tied_to_a_call_fails_every_call_in_flight(pushed: Any, phrase: str) -> None:
    transport = MockTransport(mcp_server({}))
    connection = await opened(transport)
    transport.handler = lambda _: None
    calls = [asyncio.create_task(connection.request("tools/call", {"name": "x"})) for _ in range(2)]
    while sum(m.get("method") == "tools/call" for m in transport.sent) < 2:
        await asyncio.sleep(0)
    transport.push(pushed)
    for call in calls:
        with pytest.raises(UpstreamBrokeProtocol, match=phrase) as caught:
            await asyncio.wait_for(call, 1)
        assert caught.value.fault == "upstream"
    assert connection.closed.is_set()
    with pytest.raises(UpstreamError):
        await connection.request("ping")
    await connection.close()


async def test_a_late_answer_to_a_call_given_up_on_is_dropped_quietly() -> None:
    transport = MockTransport(mcp_server({}))
    connection = await opened(transport)
    transport.handler = lambda _: None
    with pytest.raises(TimeoutError):
        await connection.send_request("tools/call", {"name": "slow"}, patience=0.01)
    cancelled = asyncio.create_task(connection.request("tools/call", {"name": "slow"}))
    while transport.sent[-1].get("method") != "tools/call":
        await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    late = [m["id"] for m in transport.sent if m.get("method") == "tools/call"]
    for request_id in late:
        transport.push({"jsonrpc": "2.0", "id": request_id, "result": {"content": []}})
    transport.handler = mcp_server({})
    assert await connection.request("ping") == {"jsonrpc": "2.0", "id": late[-1] + 1, "result": {}}
    assert connection.closed_reason is None
    await connection.close()


def test_the_envelope_check_passes_what_is_well_formed() -> None:
    for message in (
        {"jsonrpc": "2.0", "id": 1, "result": {}},
        {"jsonrpc": "2.0", "id": "a", "error": {"code": -1, "message": "no", "data": [1]}},
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1}},
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
    ):
        assert envelope_problem(message) is None, message
    assert envelope_problem({"jsonrpc": "2.0", "id": True, "method": "ping"}) is not None
    assert envelope_problem({"jsonrpc": "2.0", "method": "x", "params": [1]}) is not None
