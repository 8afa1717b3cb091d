"""SIGTERM drains under load: /readyz flips to 503 first, new sessions are refused with a retry
hint, every call that had started completes, open streams end with an SSE ``retry:``, and the
process exits 0."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx2
import orjson

from tests.support import default_settings, fixture_server, initialize_raw, running_gateway
from tests.test_shutdown import in_flight

LEGACY = "2025-11-25"
CALLS = 24


def slow_call(request_id: int, seconds: float) -> bytes:
    params = {"name": "alpha__slow", "arguments": {"seconds": seconds}}
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})


async def open_session(http: httpx2.AsyncClient, url: str, headers: dict[str, str]) -> dict[str, str]:
    session = await initialize_raw(http, url, headers)
    return {
        **headers,
        "content-type": "application/json",
        "mcp-session-id": session,
        "mcp-protocol-version": LEGACY,
    }


async def test_sigterm_drains_every_started_call_and_refuses_new_sessions(tmp_path: Path) -> None:
    settings = default_settings(
        {"alpha": fixture_server("alpha", start="eager")}, ops={"drain_timeout": 20, "retry_after": 3}
    )
    with running_gateway(tmp_path, settings) as gateway:
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
            ready = await http.get(f"{gateway.base}/readyz")  # no key: a public path
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"}), ready.text
            sessions = [await open_session(http, gateway.url, gateway.headers()) for _ in range(4)]
            listening = http.stream(
                "GET", gateway.url, headers={**sessions[0], "accept": "text/event-stream"}
            )
            stream = await listening.__aenter__()
            assert stream.status_code == 200
            calls = [
                asyncio.create_task(
                    http.post(gateway.url, headers=sessions[n % 4], content=slow_call(n, 1.5 + (n % 3) * 0.5))
                )
                for n in range(CALLS)
            ]
            await in_flight(http, gateway.url, sessions[(CALLS - 1) % 4], CALLS - 1)

            gateway.process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            ready = await _readyz_after_drain_began(http, gateway.base)
            assert ready.json() == {"status": "not ready", "reasons": ["draining"]}
            refused = await http.post(
                gateway.url,
                headers={**gateway.headers(), "content-type": "application/json"},
                json=_initialize(),
            )
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "3"
            assert "draining" in refused.json()["error"]["message"]

            answers = await asyncio.wait_for(asyncio.gather(*calls), 20)
            for n, answer in enumerate(answers):
                assert answer.status_code == 200, answer.text
                message = _final(answer)
                assert message["id"] == n
                assert message["result"]["content"][0]["text"] == "done", message
            tail = (await asyncio.wait_for(stream.aread(), 10)).decode()
            assert "retry: 3000" in tail, tail
            await listening.__aexit__(None, None, None)
            assert time.monotonic() - started < 15
        assert gateway.process.wait(15) == 0
        log = gateway.log()
        assert "Traceback" not in log, log
        assert "still in flight" not in log, log  # none had to be stopped
        assert "1 open stream(s) ended with a retry hint" in log, log


async def _readyz_after_drain_began(http: httpx2.AsyncClient, base: str) -> httpx2.Response:
    """/readyz once the signal has been handled (the gateway still listens while draining)."""
    deadline = time.monotonic() + 5
    while True:
        ready = await http.get(f"{base}/readyz")
        if ready.status_code == 503 or time.monotonic() > deadline:
            return ready
        await asyncio.sleep(0.02)


def _initialize() -> dict[str, Any]:
    params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "late", "version": "0"}}
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}


def _final(response: httpx2.Response) -> dict[str, Any]:
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [
            line[5:] for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()
        ]
        message: dict[str, Any] = orjson.loads(data[-1])
        return message
    answer: dict[str, Any] = response.json()
    return answer
