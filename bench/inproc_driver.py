"""One gateway checkout, in process, driven call by call through its ASGI app (no HTTP server, no
load generator): what ``python -m bench instructions`` runs under callgrind.

It builds the checkout's ``Gateway`` from a settings file, opens a legacy session, warms up, then
waits at a gate (``DIR/ready`` → ``DIR/go``) so that the harness can zero callgrind's counters,
sends ``--calls`` requests one at a time, and waits at a second gate (``DIR/done`` → ``DIR/go2``)
while the harness dumps them. Only the measured calls are counted.

Run by the harness: ``PYTHONPATH=CHECKOUT python bench/inproc_driver.py SETTINGS DIR --calls N``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from pathlib import Path
from typing import Any

import orjson
import uvloop

KEY = "pcs_instructions_bench_key"
PROTOCOL = "2025-06-18"
WARMUP = 300


class InProcessClient:
    """POSTs to ``/mcp`` as uvicorn would hand them to the app: one scope, one body."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.headers: list[tuple[bytes, bytes]] = [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", f"Bearer {KEY}".encode()),
            (b"content-type", b"application/json"),
            (b"accept", b"application/json, text/event-stream"),
        ]

    async def post(self, body: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        headers = [*self.headers, (b"content-length", str(len(body)).encode())]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/mcp",
            "raw_path": b"/mcp",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        answer: dict[str, Any] = {"status": 0, "headers": {}, "body": b""}

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def send(event: dict[str, Any]) -> None:
            if event["type"] == "http.response.start":
                answer["status"] = event["status"]
                answer["headers"] = dict(event["headers"])
            elif event["type"] == "http.response.body":
                answer["body"] += event.get("body", b"")

        await self.app(scope, receive, send)
        return answer["status"], answer["headers"], answer["body"]


async def gate(mark: Path, go: Path) -> None:
    mark.touch()
    while not go.exists():
        await asyncio.sleep(0.05)


async def drive(settings_path: Path, gates: Path, calls: int, workload: str) -> None:
    from gateway.app import Gateway
    from gateway.settings import load_settings

    gateway = Gateway(
        load_settings(settings_path), key_hashes={hashlib.sha256(KEY.encode()).hexdigest(): "bench"}
    )
    client = InProcessClient(gateway.asgi())
    await gateway.start()
    initialize = {
        "protocolVersion": PROTOCOL,
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    }
    status, headers, body = await client.post(
        orjson.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initialize})
    )
    if status != 200:
        raise SystemExit(f"initialize answered {status}: {body[:300]!r}")
    client.headers += [
        (b"mcp-session-id", headers[b"mcp-session-id"]),
        (b"mcp-protocol-version", PROTOCOL.encode()),
    ]
    await client.post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    if workload == "call":
        method, params = "tools/call", {"name": "s1__echo", "arguments": {"text": "hello"}}
    else:
        method, params = "tools/list", {}
    bodies = [
        orjson.dumps({"jsonrpc": "2.0", "id": i + 1, "method": method, "params": params})
        for i in range(WARMUP + calls)
    ]
    for request in bodies[:WARMUP]:
        status, _, body = await client.post(request)
    if status != 200 or b'"result"' not in body:
        raise SystemExit(f"{method} answered {status}: {body[:300]!r}")
    await gate(gates / "ready", gates / "go")
    for request in bodies[WARMUP:]:
        await client.post(request)
    await gate(gates / "done", gates / "go2")
    await gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("settings", type=Path)
    parser.add_argument("gates", type=Path)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--workload", choices=["call", "list"], default="call")
    options = parser.parse_args()
    uvloop.run(drive(options.settings, options.gates, options.calls, options.workload))


if __name__ == "__main__":
    main()
