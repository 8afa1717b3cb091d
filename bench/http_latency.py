"""Latency a ``tools/call`` gains through the gateway to an HTTP upstream, against the same
upstream called direct.

Pairs, measured call by call and alternating (see ``bench/latency.py``):

- ``sdk``: the ``mcp`` SDK client to the fixture server over streamable HTTP (SSE answers), vs
  the same client to the gateway in front of it;
- ``raw``: one keep-alive HTTP connection with a minimal client, to the fixture server in JSON
  answer mode, vs to the gateway in front of that server; this isolates the gateway's own cost.

Run: ``.venv/bin/python -m bench.http_latency [--calls 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import orjson
from mcp import Client

from bench.latency import (
    ARGUMENTS,
    ROOT,
    Call,
    KeepAliveHttp,
    free_port,
    measure_pair,
    summary,
)

FIXTURE = [sys.executable, str(ROOT / "tests" / "fixtures" / "fixture_server.py"), "--name", "bench"]


def _wait_listening(port: int, path: str = "/healthz") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx2.HTTPError):
            httpx2.get(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


@contextlib.contextmanager
def upstream(port: int, *extra: str) -> Iterator[None]:
    process = subprocess.Popen([*FIXTURE, "--http", str(port), *extra], stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, "/mcp")
        yield
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def gateway(port: int, upstream_url: str) -> Iterator[None]:
    settings = f"""
port = {port}
[auth]
enabled = false
[logging]
level = "warning"
[servers.bench]
url = "{upstream_url}"
start = "eager"
"""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "settings.toml"
        path.write_text(settings)
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--settings", str(path)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_listening(port)
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(15)


@contextlib.asynccontextmanager
async def sdk(url: str, tool: str) -> AsyncIterator[Call]:
    async with Client(url, mode="legacy") as client:

        async def call() -> None:
            await client.call_tool(tool, ARGUMENTS)

        yield call


@contextlib.asynccontextmanager
async def raw(port: int, tool: str) -> AsyncIterator[Call]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    http = KeepAliveHttp(reader, writer, "/mcp")
    http.headers["Host"] = f"127.0.0.1:{port}"
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "b", "version": "0"},
        },
    }
    _, headers, _ = await http.post(orjson.dumps(init))
    http.headers["Mcp-Session-Id"] = headers["mcp-session-id"]
    http.headers["MCP-Protocol-Version"] = "2025-11-25"
    status, _, _ = await http.post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    assert status == 202
    counter = iter(range(1, 10**9))

    async def call() -> None:
        body = {
            "jsonrpc": "2.0",
            "id": next(counter),
            "method": "tools/call",
            "params": {"name": tool, "arguments": ARGUMENTS},
        }
        status, _, payload = await http.post(orjson.dumps(body))
        assert status == 200, payload

    try:
        yield call
    finally:
        writer.close()


async def run(calls: int, warmup: int) -> str:
    rows = [
        "| pair | calls | direct p50 ms | gateway p50 ms | added p50 ms | direct p95 ms | gateway p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    sse_port, json_port, gw_sse, gw_json = (free_port() for _ in range(4))
    with (
        upstream(sse_port),
        upstream(json_port, "--json-response"),
        gateway(gw_sse, f"http://127.0.0.1:{sse_port}/mcp"),
        gateway(gw_json, f"http://127.0.0.1:{json_port}/mcp"),
    ):
        async with (
            sdk(f"http://127.0.0.1:{sse_port}/mcp", "echo") as direct,
            sdk(f"http://127.0.0.1:{gw_sse}/mcp", "bench__echo") as through,
        ):
            pair = await measure_pair(direct, through, calls, warmup)
            rows.append(summary("mcp SDK client, upstream answers SSE", *pair))
        async with raw(json_port, "echo") as direct, raw(gw_json, "bench__echo") as through:
            pair = await measure_pair(direct, through, calls, warmup)
            rows.append(summary("raw client, upstream answers JSON", *pair))
        async with raw(json_port, "echo") as direct, raw(gw_sse, "bench__echo") as through:
            pair = await measure_pair(direct, through, calls, warmup)
            rows.append(summary("raw client; gateway to an SSE-answering upstream", *pair))
    loads = " ".join(f"{value:.2f}" for value in os.getloadavg())
    rows += ["", f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {loads}"]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    print(asyncio.run(run(args.calls, args.warmup)))


if __name__ == "__main__":
    main()
