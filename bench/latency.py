"""Latency a ``tools/call`` gains through the gateway, against the same stdio server direct.

Two pairs, each measured call by call, alternating direct and gateway so that drift (CPU
frequency, other load) hits both sides alike:

- ``sdk``: the ``mcp`` SDK client, over stdio to the server vs over HTTP to the gateway;
- ``raw``: the leanest clients we can write, JSON lines on the server's pipes vs one
  keep-alive HTTP connection to the gateway; this isolates the gateway's own cost.

Run: ``.venv/bin/python bench/latency.py [--calls 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import orjson
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parent.parent
SERVER = [sys.executable, str(ROOT / "tests" / "fixtures" / "fixture_server.py"), "--name", "bench"]
ARGUMENTS = {"text": "hello"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def gateway_process(port: int) -> Any:
    settings = f"""
port = {port}
[auth]
enabled = false
[logging]
level = "warning"
[servers.bench]
command = "{SERVER[0]}"
args = {orjson.dumps(SERVER[1:]).decode()}
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
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx2.HTTPError):
                    if httpx2.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                time.sleep(0.05)
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(15)


Call = Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def sdk_direct() -> AsyncIterator[Call]:
    params = StdioServerParameters(command=SERVER[0], args=SERVER[1:])
    async with Client(params, mode="legacy") as client:

        async def call() -> None:
            await client.call_tool("echo", ARGUMENTS)

        yield call


@contextlib.asynccontextmanager
async def sdk_gateway(url: str) -> AsyncIterator[Call]:
    async with Client(url, mode="legacy") as client:

        async def call() -> None:
            await client.call_tool("bench__echo", ARGUMENTS)

        yield call


@contextlib.asynccontextmanager
async def raw_direct() -> AsyncIterator[Call]:
    process = await asyncio.create_subprocess_exec(
        *SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout
    counter = iter(range(1, 10**9))

    async def rpc(method: str, params: dict[str, Any], *, notify: bool = False) -> Any:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if not notify:
            message["id"] = next(counter)
        stdin.write(orjson.dumps(message) + b"\n")
        await stdin.drain()
        return None if notify else orjson.loads(await stdout.readline())

    await rpc(
        "initialize",
        {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "b", "version": "0"}},
    )
    await rpc("notifications/initialized", {}, notify=True)

    async def call() -> None:
        await rpc("tools/call", {"name": "echo", "arguments": ARGUMENTS})

    try:
        yield call
    finally:
        stdin.close()
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        await process.wait()


class KeepAliveHttp:
    """The leanest HTTP/1.1 client: one keep-alive connection, Content-Length bodies only.

    httpx2 costs ~1.5 ms of client CPU per request (DESIGN.md), which would hide the
    gateway's own cost; this one costs a few microseconds.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> None:
        self.reader, self.writer, self.path = reader, writer, path
        self.headers: dict[str, str] = {
            "Host": "127.0.0.1",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }

    async def post(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        head = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        request = f"POST {self.path} HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n"
        self.writer.write(request.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        payload = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, payload


@contextlib.asynccontextmanager
async def raw_gateway(url: str) -> AsyncIterator[Call]:
    port = int(url.split(":")[2].split("/", maxsplit=1)[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    http = KeepAliveHttp(reader, writer, "/mcp")
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
    counter = iter(range(1, 10**9))

    async def call() -> None:
        body = {
            "jsonrpc": "2.0",
            "id": next(counter),
            "method": "tools/call",
            "params": {"name": "bench__echo", "arguments": ARGUMENTS},
        }
        status, _, _ = await http.post(orjson.dumps(body))
        assert status == 200

    try:
        yield call
    finally:
        writer.close()


async def measure_pair(
    direct: Call, through: Call, calls: int, warmup: int
) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        await direct()
        await through()
    direct_times: list[float] = []
    gateway_times: list[float] = []
    for i in range(calls):
        order = [(direct, direct_times), (through, gateway_times)]
        if i % 2:
            order.reverse()
        for call, times in order:
            started = time.perf_counter()
            await call()
            times.append((time.perf_counter() - started) * 1000)
    return direct_times, gateway_times


def summary(label: str, direct: list[float], through: list[float]) -> str:
    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    d50, g50 = statistics.median(direct), statistics.median(through)
    return (
        f"| {label} | {len(direct)} | {d50:.3f} | {g50:.3f} | {g50 - d50:+.3f} | "
        f"{pct(direct, 0.95):.3f} | {pct(through, 0.95):.3f} |"
    )


async def run(calls: int, warmup: int) -> str:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    rows = [
        "| pair | calls | direct p50 ms | gateway p50 ms | added p50 ms | direct p95 ms | gateway p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    with gateway_process(port):
        async with sdk_direct() as direct, sdk_gateway(url) as through:
            rows.append(
                summary("mcp SDK client (stdio vs HTTP)", *await measure_pair(direct, through, calls, warmup))
            )
        async with raw_direct() as direct, raw_gateway(url) as through:
            rows.append(
                summary("raw client (pipes vs HTTP)", *await measure_pair(direct, through, calls, warmup))
            )
    load = os.getloadavg()
    rows.append("")
    loads = " ".join(f"{value:.2f}" for value in load)
    rows.append(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {loads}")
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
