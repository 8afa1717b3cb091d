"""The HTTP transports against scripted servers: SSE parsing, sessions, re-initialize, resume,
errors and limits, and the choice between streamable HTTP and legacy HTTP+SSE."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.support import INITIALIZE, free_port, serving
from upstream.errors import CredentialsRefused
from upstream.session.connection import UpstreamConnection
from upstream.session.handshake import initialize
from upstream.transports.base import Received, Transport, TransportClosed
from upstream.transports.http import AutoTransport, StreamableHttpTransport, TransportKind, http_transport
from upstream.transports.http_support import MessageTooLarge, SseEvent, SseParser
from upstream.transports.sse_legacy import LegacySseTransport

pytestmark = pytest.mark.timeout(30)

UPSTREAM_UNAVAILABLE = -32012
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


# --- the SSE parser ------------------------------------------------------------------------------


def parse(*chunks: bytes, limit: int = 1 << 20) -> tuple[list[SseEvent], SseParser]:
    parser = SseParser(limit)
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events, parser


def test_sse_multiline_data_comments_and_fields() -> None:
    stream = b': keep-alive\nevent: message\nid: 7\nretry: 1500\ndata: {"a":\ndata:  1}\n\n'
    events, parser = parse(stream)
    assert events == [SseEvent("message", b'{"a":\n 1}', "7")]
    assert parser.last_event_id == "7"
    assert parser.retry == 1500


def test_sse_any_line_ending_and_any_chunking() -> None:
    stream = b"\xef\xbb\xbfdata: one\r\n\r\nevent: endpoint\rdata: /m?x=1\r\rdata: three\n\n"
    expected = [
        SseEvent("message", b"one", None),
        SseEvent("endpoint", b"/m?x=1", None),
        SseEvent("message", b"three", None),
    ]
    assert parse(stream)[0] == expected
    assert parse(*(stream[i : i + 1] for i in range(len(stream))))[0] == expected
    for cut in range(len(stream)):
        assert parse(stream[:cut], stream[cut:])[0] == expected, cut


def test_sse_priming_event_moves_the_cursor_without_a_message() -> None:
    events, parser = parse(b"id: prime-1\ndata:\n\n", b"id: e2\n\n")
    assert events == [SseEvent("message", b"", "prime-1")]
    assert parser.last_event_id == "e2"
    assert parser.events == 2
    _, nul = parse(b"id: a\0b\ndata: x\n\n")
    assert nul.last_event_id is None, "an id with NUL is ignored"


def test_sse_limits_event_size() -> None:
    with pytest.raises(MessageTooLarge):
        parse(b"data: " + b"x" * 100 + b"\n\n", limit=64)
    with pytest.raises(MessageTooLarge):  # a line that never ends
        parse(*(b"x" * 50 for _ in range(3)), limit=64)
    with pytest.raises(MessageTooLarge):  # many small lines
        parse(b"data: xxxxxxxxxx\n" * 10, limit=64)


def test_sse_long_line_across_many_chunks_is_linear() -> None:
    size = 8 * 1024 * 1024
    chunks = [b"data: "] + [b"x" * 65536 for _ in range(size // 65536)] + [b"\n\n"]
    events, _ = parse(*chunks, limit=16 * 1024 * 1024)
    assert len(events[0].data) == size


# --- a scripted streamable HTTP server ----------------------------------------------------------

Handler = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


@dataclass
class Script:
    """What the fake server does; tests replace the handlers they care about."""

    seen: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    initializes: int = 0
    protocol: str = "2025-11-25"
    on_request: Handler | None = None
    on_get: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
    refuse_initialize: Handler | None = None

    def forget_sessions(self) -> None:
        self.sessions.clear()


def sse_body(*events: tuple[str | None, Any]) -> bytes:
    out = b""
    for event_id, message in events:
        if event_id is not None:
            out += f"id: {event_id}\n".encode()
        data = b"" if message is None else orjson.dumps(message)
        out += b"event: message\ndata: " + data + b"\n\n"
    return out


def result_for(message: dict[str, Any], result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message["id"], "result": result}


async def echo_json(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
    return web.json_response(result_for(message, {"echo": message.get("params")}))


def make_app(script: Script) -> web.Application:
    async def mcp(request: web.Request) -> web.StreamResponse:
        body = await request.read() if request.method == "POST" else b""
        message = orjson.loads(body) if body else None
        script.seen.append((request.method, dict(request.headers), message))
        session = request.headers.get("Mcp-Session-Id")
        if request.method == "DELETE":
            script.sessions.discard(session or "")
            return web.Response(status=200)
        if request.method == "GET":
            if session is not None and session not in script.sessions:
                return web.Response(status=404)
            if script.on_get is None:
                return web.Response(status=405)
            return await script.on_get(request)
        assert message is not None
        if message.get("method") == "initialize" and script.refuse_initialize is not None:
            return await script.refuse_initialize(request, message)
        if message.get("method") == "initialize":
            script.initializes += 1
            new = f"session-{script.initializes}"
            script.sessions.add(new)
            answer = result_for(
                message, {"protocolVersion": script.protocol, "capabilities": {}, "serverInfo": {}}
            )
            return web.json_response(answer, headers={"Mcp-Session-Id": new})
        if session not in script.sessions:
            return web.json_response(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}},
                status=404,
            )
        if "id" not in message or "method" not in message:
            return web.Response(status=202)
        handler = script.on_request or echo_json
        return await handler(request, message)

    app = web.Application()
    app.router.add_route("*", "/mcp", mcp)
    return app


@contextlib.asynccontextmanager
async def scripted(script: Script, **options: Any) -> AsyncIterator[tuple[StreamableHttpTransport, int]]:
    async with serving(make_app(script)) as port:
        transport = StreamableHttpTransport("fake", f"http://127.0.0.1:{port}/mcp", **options)
        await transport.connect()
        try:
            yield transport, port
        finally:
            await transport.close()


async def receive(transport: Transport, timeout: float = 5) -> Received:
    return await asyncio.wait_for(transport.receive(), timeout)


async def handshake(transport: Transport) -> None:
    await transport.send(INITIALIZE)
    message, related = await receive(transport)
    assert message["id"] == 1 and "result" in message, message
    assert related == 1
    await transport.send(INITIALIZED)


async def call(transport: Transport, request_id: int, method: str = "tools/call") -> dict[str, Any]:
    await transport.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": {"n": request_id}})
    while True:
        message, _ = await receive(transport)
        if message.get("id") == request_id and "method" not in message:
            return message


def posts(script: Script) -> list[tuple[dict[str, str], Any]]:
    return [(headers, message) for method, headers, message in script.seen if method == "POST"]


# --- streamable HTTP -----------------------------------------------------------------------------


async def test_session_and_protocol_headers_follow_the_handshake() -> None:
    script = Script(protocol="2025-06-18")
    async with scripted(script, headers={"X-Api-Key": "k"}) as (transport, _):
        await handshake(transport)
        assert (await call(transport, 2))["result"] == {"echo": {"n": 2}}
        assert transport.session_id == "session-1"
    (init_headers, _), (initialized_headers, _), (call_headers, _) = posts(script)
    assert "Mcp-Session-Id" not in init_headers and "MCP-Protocol-Version" not in init_headers
    for headers in (initialized_headers, call_headers):
        assert headers["Mcp-Session-Id"] == "session-1"
        assert headers["MCP-Protocol-Version"] == "2025-06-18"
        assert headers["X-Api-Key"] == "k"
        assert headers["Accept"] == "application/json, text/event-stream"
        assert headers["Content-Type"] == "application/json"
    deletes = [headers for method, headers, _ in script.seen if method == "DELETE"]
    assert [headers["Mcp-Session-Id"] for headers in deletes] == ["session-1"], "close() ends the session"


@contextlib.asynccontextmanager
async def connected(script: Script) -> AsyncIterator[tuple[UpstreamConnection, StreamableHttpTransport]]:
    """A session-layer connection over the transport, past the initialize handshake."""
    async with serving(make_app(script)) as port:
        transport = StreamableHttpTransport("fake", f"http://127.0.0.1:{port}/mcp")
        connection = UpstreamConnection(
            "fake", transport, client_info={"name": "test", "version": "0"}, on_notification=lambda *_: None
        )
        await connection.connect()
        try:
            await initialize(connection, {"name": "test", "version": "0"})
            yield connection, transport
        finally:
            await connection.close()


async def test_forgotten_session_is_reinitialized_once_and_the_request_retried() -> None:
    script = Script()
    async with connected(script) as (connection, transport):
        await connection.send_request("tools/call", {"n": 2})
        script.forget_sessions()
        answers = await asyncio.gather(
            *(asyncio.wait_for(connection.send_request("tools/call", {"n": n}), 5) for n in (3, 4, 5))
        )
        assert [answer["result"]["echo"]["n"] for answer in answers] == [3, 4, 5]
        assert script.initializes == 2, "one renewal serves every request that saw the stale session"
        assert transport.session_id == "session-2"
        assert connection.check_alive()
    first, replayed = [message for _, message in posts(script) if message.get("method") == "initialize"]
    assert replayed["params"] == first["params"]
    assert replayed["id"] != first["id"]
    methods = [message.get("method") for _, message in posts(script)]
    assert methods.count("notifications/initialized") == 2


async def test_second_404_becomes_an_error() -> None:
    script = Script()

    async def always_gone(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        return web.Response(status=404)

    async with connected(script) as (connection, _):
        script.on_request = always_gone
        answer = await asyncio.wait_for(connection.send_request("tools/call", {"n": 2}), 5)
        assert connection.check_alive(), "one call's failure does not end the connection"
    assert answer["error"]["code"] == UPSTREAM_UNAVAILABLE
    assert "again right after a fresh initialize" in answer["error"]["message"]
    assert answer["error"]["data"] == {"fault": "upstream", "status": 404}
    assert script.initializes == 2


async def test_a_refused_renewal_fails_the_call_not_the_connection() -> None:
    script = Script()

    async def refuse(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        error = {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32603, "message": "no more"}}
        return web.json_response(error)

    async with connected(script) as (connection, _):
        script.forget_sessions()
        script.refuse_initialize = refuse
        answer = await asyncio.wait_for(connection.send_request("tools/call", {"n": 2}), 5)
        assert connection.check_alive()
    assert answer["error"]["code"] == UPSTREAM_UNAVAILABLE
    assert (
        "forgot our session, and re-initializing failed: refused a new initialize: no more"
        in (answer["error"]["message"])
    )


async def test_http_errors_become_jsonrpc_errors_for_the_request() -> None:
    script = Script()

    async def failing(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        if message["params"]["n"] == 2:
            error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32602, "message": "bad arguments"}}
            return web.json_response(error, status=400)
        return web.Response(status=502, text="<html>bad gateway</html>", content_type="text/html")

    async with serving(make_app(script)) as port:
        url = f"http://admin:hunter2@127.0.0.1:{port}/mcp?token=query-secret"
        transport = StreamableHttpTransport("fake", url)
        await transport.connect()
        try:
            await handshake(transport)
            script.on_request = failing
            forwarded = await call(transport, 2)
            synthesized = await call(transport, 3)
        finally:
            await transport.close()
    assert forwarded["error"]["code"] == -32602
    assert forwarded["error"]["message"] == "bad arguments"
    assert forwarded["error"]["data"] == {"fault": "upstream", "status": 400}
    error = synthesized["error"]
    assert error["code"] == UPSTREAM_UNAVAILABLE
    assert error["data"] == {"fault": "upstream", "status": 502}
    assert f"HTTP 502 Bad Gateway (http://127.0.0.1:{port}/mcp)" in error["message"]
    assert "hunter2" not in str(error) and "query-secret" not in str(error)


async def test_sse_answer_is_relayed_event_by_event() -> None:
    script = Script()
    release = asyncio.Event()

    async def streaming(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        progress = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1}}
        await response.write(b": comment\n\n" + sse_body((None, progress)))
        await release.wait()
        await response.write(sse_body((None, result_for(message, {"done": True}))))
        return response

    async with scripted(script) as (transport, _):
        await handshake(transport)
        script.on_request = streaming
        await transport.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {}})
        first, related = await receive(transport)  # before the answer exists
        assert first["method"] == "notifications/progress"
        assert related == 2
        release.set()
        answer, related = await receive(transport)
        assert answer == result_for({"id": 2}, {"done": True})
        assert related == 2


async def test_broken_stream_resumes_with_last_event_id() -> None:
    script = Script()
    resumed_with: list[str | None] = []

    async def breaks_off(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        progress = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 2}}
        await response.write(sse_body(("e1", None), ("e2", progress)))
        assert request.transport is not None
        request.transport.close()  # the connection drops before the answer
        return response

    async def resume(request: web.Request) -> web.StreamResponse:
        if "Last-Event-ID" not in request.headers:
            return web.Response(status=405)  # no stream of its own, only resumption
        resumed_with.append(request.headers["Last-Event-ID"])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(sse_body(("e3", result_for({"id": 2}, {"resumed": True}))))
        return response

    async with scripted(script) as (transport, _):
        await handshake(transport)
        script.on_request = breaks_off
        script.on_get = resume
        await transport.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {}})
        got = [await receive(transport), await receive(transport)]
    assert got[0][0]["method"] == "notifications/progress"
    assert got[1] == (result_for({"id": 2}, {"resumed": True}), 2)
    assert resumed_with == ["e2"]


async def test_broken_stream_without_event_ids_is_an_error() -> None:
    script = Script()

    async def breaks_off(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b": working\n\n")
        return response  # ends the stream without an answer

    async with scripted(script) as (transport, _):
        await handshake(transport)
        script.on_request = breaks_off
        answer = await call(transport, 2)
    assert answer["error"]["code"] == UPSTREAM_UNAVAILABLE
    assert "ended before the response" in answer["error"]["message"]


async def test_a_json_answer_must_arrive_whole_within_the_timeout() -> None:
    """One deadline runs from the POST to the last byte of a JSON answer: a server that sends
    its headers at once and then stalls the body does not hold the call."""
    script = Script()

    async def stalls_the_body(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b'{"jsonrpc": "2.0", ')
        await asyncio.sleep(30)
        return response

    async with scripted(script, timeout=1) as (transport, _):
        await handshake(transport)
        script.on_request = stalls_the_body
        started = time.monotonic()
        answer = await call(transport, 2)
    assert answer["error"]["code"] == UPSTREAM_UNAVAILABLE
    assert "did not answer in time" in answer["error"]["message"]
    assert 0.9 < time.monotonic() - started < 5


async def test_an_sse_answer_may_outlast_the_timeout_but_not_stay_silent_past_the_idle_limit() -> None:
    script = Script()

    async def slow_then_silent(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        progress = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1}}
        for _ in range(4):  # 1.2 s of progress: past the 0.5 s timeout, never silent for 0.8 s
            await response.write(sse_body((None, progress)))
            await asyncio.sleep(0.3)
        if message["id"] == 2:
            await response.write(sse_body((None, result_for(message, {"done": True}))))
            return response
        await asyncio.sleep(30)  # then silence
        return response

    async with scripted(script, timeout=0.5, sse_read_timeout=0.8) as (transport, _):
        await handshake(transport)
        script.on_request = slow_then_silent
        assert (await call(transport, 2))["result"] == {"done": True}
        started = time.monotonic()
        silent = await call(transport, 3)
    assert silent["error"]["code"] == UPSTREAM_UNAVAILABLE
    assert "went idle too long" in silent["error"]["message"]
    assert 1.5 < time.monotonic() - started < 5  # four progress ticks, then 0.8 s of silence


async def test_messages_over_the_size_limit_are_refused() -> None:
    script = Script()

    async def big(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        answer = result_for(message, {"blob": "x" * 10_000})
        if message["params"]["n"] == 2:
            return web.json_response(answer)
        return web.Response(body=sse_body((None, answer)), content_type="text/event-stream")

    async with scripted(script, max_message_bytes=4096) as (transport, _):
        await handshake(transport)
        script.on_request = big
        for request_id in (2, 3):
            answer = await call(transport, request_id)
            assert "larger than max_message_bytes (4096)" in answer["error"]["message"]


async def test_server_stream_relays_unprompted_messages() -> None:
    script = Script()
    opened = asyncio.Event()

    async def listen(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        changed = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
        await response.write(sse_body(("g1", changed)))
        opened.set()
        await asyncio.sleep(30)
        return response

    script.on_get = listen
    async with scripted(script) as (transport, _):
        await handshake(transport)
        message, related = await receive(transport)
        assert message["method"] == "notifications/tools/list_changed"
        assert related is None


async def test_redirects_are_not_followed() -> None:
    script = Script()

    async def moved(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect("https://elsewhere.example/mcp?key=secret")

    async with scripted(script, headers={"Authorization": "Bearer upstream"}) as (transport, _):
        await handshake(transport)
        script.on_request = moved
        answer = await call(transport, 2)
    assert "redirected to https://elsewhere.example/mcp" in answer["error"]["message"]
    assert "secret" not in answer["error"]["message"]


async def test_refused_initialize_fails_the_handshake_with_the_reason() -> None:
    async def unauthorized(request: web.Request) -> web.StreamResponse:
        error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": "token expired"}}
        return web.json_response(error, status=401)

    app = web.Application()
    app.router.add_route("*", "/mcp", unauthorized)
    async with serving(app) as port:
        kinds: tuple[TransportKind, ...] = ("streamable-http", "auto")
        for kind in kinds:
            transport = http_transport("locked", f"http://127.0.0.1:{port}/mcp", transport=kind)
            await transport.connect()
            try:
                with pytest.raises(CredentialsRefused) as caught:  # its own kind: the fix is ours
                    await transport.send(INITIALIZE)
            finally:
                await transport.close()
            assert "refused our credentials (HTTP 401 Unauthorized" in caught.value.detail
            assert "check the server's `headers`: token expired" in caught.value.detail


async def test_unreachable_server_fails_the_handshake() -> None:
    port = free_port()
    transport = StreamableHttpTransport("gone", f"http://127.0.0.1:{port}/mcp", timeout=2)
    await transport.connect()
    try:
        with pytest.raises(TransportClosed) as caught:
            await transport.send(INITIALIZE)
    finally:
        await transport.close()
    assert f"could not connect to http://127.0.0.1:{port}/mcp" in caught.value.detail
    assert not isinstance(caught.value, CredentialsRefused)


# --- legacy HTTP+SSE and auto-detection ---------------------------------------------------------


def _init_result() -> dict[str, Any]:
    return {"protocolVersion": "2024-11-05", "capabilities": {}, "serverInfo": {}}


def legacy_app(endpoint: str = "/messages/?session_id=abc") -> tuple[web.Application, list[Any]]:
    """A 2024-11-05 server: GET /sse streams; POSTs to the endpoint are answered on the stream."""
    posted: list[Any] = []
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def sse(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(f"event: endpoint\ndata: {endpoint}\n\n".encode())
        while True:
            message = await outbox.get()
            await response.write(b"event: message\ndata: " + orjson.dumps(message) + b"\n\n")

    async def messages(request: web.Request) -> web.StreamResponse:
        message = orjson.loads(await request.read())
        posted.append((dict(request.headers), message, request.query.get("session_id")))
        if "id" in message and "method" in message:
            result = _init_result() if message["method"] == "initialize" else {"ok": 1}
            outbox.put_nowait(result_for(message, result))
        return web.Response(status=202, text="Accepted")

    app = web.Application()
    app.router.add_get("/sse", sse)
    app.router.add_post("/messages/", messages)
    return app, posted


async def test_legacy_transport_posts_to_the_endpoint_and_reads_the_stream() -> None:
    app, posted = legacy_app()
    async with serving(app) as port:
        transport = http_transport(
            "old", f"http://127.0.0.1:{port}/sse", transport="sse", headers={"X-K": "v"}
        )
        assert isinstance(transport, LegacySseTransport)
        await transport.connect()
        try:
            assert str(transport.endpoint) == f"http://127.0.0.1:{port}/messages/?session_id=abc"
            await transport.send(INITIALIZE)
            assert (await receive(transport)) == (result_for(INITIALIZE, _init_result()), None)
            await transport.send(INITIALIZED)
            assert (await call(transport, 2))["result"] == {"ok": 1}
        finally:
            await transport.close()
    assert all(headers["X-K"] == "v" and session == "abc" for headers, _, session in posted)


async def test_legacy_endpoint_on_another_origin_is_refused() -> None:
    app, posted = legacy_app(endpoint="http://evil.example/steal")
    async with serving(app) as port:
        transport = LegacySseTransport("old", f"http://127.0.0.1:{port}/sse")
        try:
            with pytest.raises(TransportClosed) as caught:
                await transport.connect()
        finally:
            await transport.close()
    assert "another origin" in caught.value.detail
    assert posted == []


async def test_auto_falls_back_to_legacy_sse_on_405() -> None:
    app, posted = legacy_app()
    async with serving(app) as port:
        transport = http_transport("old", f"http://127.0.0.1:{port}/sse")
        assert isinstance(transport, AutoTransport)
        await transport.connect()
        reader = asyncio.ensure_future(receive(transport))  # already waiting, as a connection is
        try:
            await transport.send(INITIALIZE)
            assert (await reader) == (result_for(INITIALIZE, _init_result()), None)
            assert isinstance(transport.current, LegacySseTransport)
            await transport.send(INITIALIZED)
            assert (await call(transport, 2))["result"] == {"ok": 1}
        finally:
            await transport.close()
    assert [message.get("method") for _, message, _ in posted] == [
        "initialize",
        "notifications/initialized",
        "tools/call",
    ]


async def test_auto_stays_on_streamable_http() -> None:
    script = Script()
    async with serving(make_app(script)) as port:
        transport = http_transport("new", f"http://127.0.0.1:{port}/mcp")
        await transport.connect()
        try:
            await handshake(transport)
            assert isinstance(transport, AutoTransport)
            assert isinstance(transport.current, StreamableHttpTransport)
            assert (await call(transport, 2))["result"] == {"echo": {"n": 2}}
        finally:
            await transport.close()


async def test_auto_reports_both_failures() -> None:
    async def nothing_here(request: web.Request) -> web.StreamResponse:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_route("*", "/mcp", nothing_here)
    async with serving(app) as port:
        transport = http_transport("none", f"http://127.0.0.1:{port}/mcp")
        await transport.connect()
        try:
            with pytest.raises(TransportClosed) as caught:
                await transport.send(INITIALIZE)
        finally:
            await transport.close()
    assert "answered the initialize POST with HTTP 404" in caught.value.detail
    assert "not a 2024-11-05 HTTP+SSE server either" in caught.value.detail
