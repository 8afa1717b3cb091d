"""SIGTERM with calls in flight: each call is answered with a JSON-RPC error on its own
response or stream (the gateway's fault, "retry"), in both eras, instead of a plain-text 500."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx2
import orjson

from tests.support import default_settings, fixture_server, initialize_raw, running_gateway

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
INTERNAL_ERROR = -32603


def call(request_id: Any, tool: str, arguments: dict[str, Any], meta: dict[str, Any]) -> bytes:
    params = {"name": f"alpha__{tool}", "arguments": arguments, "_meta": meta}
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})


def final_message(response_body: str, content_type: str) -> dict[str, Any]:
    if content_type.startswith("text/event-stream"):
        data = [
            line[5:] for line in response_body.splitlines() if line.startswith("data:") and line[5:].strip()
        ]
        message: dict[str, Any] = orjson.loads(data[-1])
        return message
    answer: dict[str, Any] = orjson.loads(response_body)
    return answer


def assert_shutting_down(message: dict[str, Any], request_id: Any) -> None:
    assert message["id"] == request_id, message
    assert message["error"]["code"] == INTERNAL_ERROR, message
    assert message["error"]["data"]["fault"] == "gateway", message
    assert "shutting down; retry" in message["error"]["message"], message


async def in_flight(http: httpx2.AsyncClient, url: str, headers: dict[str, str], request_id: int) -> None:
    """Wait until the session has a call under ``request_id`` in flight (a ping reusing the
    id is refused then)."""
    ping = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping"})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        response = await http.post(url, headers=headers, content=ping)
        if response.status_code == 400 and "in flight" in response.text:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the call never got in flight")


async def test_sigterm_answers_every_call_in_flight_with_a_json_rpc_error(tmp_path: Path) -> None:
    settings = default_settings({"alpha": fixture_server("alpha")})
    with running_gateway(tmp_path, settings) as gateway:
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
            session = await initialize_raw(http, gateway.url, gateway.headers())
            legacy = gateway.headers(
                **{
                    "content-type": "application/json",
                    "mcp-session-id": session,
                    "mcp-protocol-version": LEGACY,
                }
            )
            modern_meta = {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
                "progressToken": "m",
            }
            modern = gateway.headers(
                **{
                    "content-type": "application/json",
                    "mcp-protocol-version": MODERN,
                    "mcp-method": "tools/call",
                    "mcp-name": "alpha__progress",
                }
            )
            # A legacy call answered in JSON: it sends nothing before its response.
            plain = asyncio.create_task(
                http.post(gateway.url, headers=legacy, content=call(1, "slow", {"seconds": 60}, {}))
            )
            await in_flight(http, gateway.url, legacy, 1)
            streams = []
            for url, headers, body in [
                (gateway.url, legacy, call(2, "progress", {"steps": 1, "delay": 60}, {"progressToken": "l"})),
                (gateway.url, modern, call(3, "progress", {"steps": 1, "delay": 60}, modern_meta)),
            ]:
                stream = http.stream("POST", url, headers=headers, content=body)
                response = await stream.__aenter__()
                assert response.headers["content-type"].startswith("text/event-stream")  # in flight
                streams.append((stream, response))

            started = time.monotonic()
            gateway.process.send_signal(signal.SIGTERM)
            answered = await asyncio.wait_for(plain, 15)
            assert answered.headers["content-type"].startswith("application/json"), answered.text
            assert_shutting_down(answered.json(), 1)
            for request_id, (stream, response) in zip((2, 3), streams, strict=True):
                body = (await asyncio.wait_for(response.aread(), 15)).decode()
                assert_shutting_down(final_message(body, response.headers["content-type"]), request_id)
                await stream.__aexit__(None, None, None)
            assert time.monotonic() - started < 10
        assert gateway.process.wait(15) == 0
        log = gateway.log()
        assert "Traceback" not in log, log
        assert "stopping 3 call(s) still in flight" in log, log
