"""What the stdio front costs: ``tools/call`` through ``portcullis stdio`` (the gateway in the
same process, reached over its private Unix socket), through ``portcullis stdio --url`` (the
thin bridge to a ``serve`` over HTTP), and straight to that ``serve`` over HTTP, against the
bench's echo server. A stdio client has one channel: it keeps ``concurrency`` requests in flight
on it (as an agent calling tools in parallel does); the HTTP client does the same over a pool.

Run ``.venv/bin/python -m bench.stdio [--duration 5] [--rounds 3]`` (``--smoke``: one short
round). Reported: calls/s and the median and 99th percentile latency, best round of each.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.harness import API_KEY, GatewayConfig, Processes, gateway_settings, loadavg, machine, start_echo
from bench.harness import start_gateway as start_serve

PORTCULLIS = str(Path(sys.executable).parent / "portcullis")
VERSION = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
}
CONFIG = GatewayConfig("stdio", log_level="warning")


def call(request_id: int) -> dict[str, Any]:
    params = {"name": "s1__echo", "arguments": {"text": "hello"}, "_meta": META}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


@dataclass
class Result:
    calls: int
    seconds: float
    latencies: list[float]

    def line(self, label: str) -> str:
        ordered = sorted(self.latencies)
        p99 = ordered[int(len(ordered) * 0.99) - 1] if len(ordered) >= 100 else ordered[-1]
        return (
            f"{label:<28} {self.calls / self.seconds:>8.0f} calls/s   p50 "
            f"{statistics.median(ordered) * 1000:6.2f} ms   p99 {p99 * 1000:6.2f} ms"
        )


async def keep_in_flight(
    send: Callable[[int], Awaitable[None]],
    done: dict[int, asyncio.Future[None]],
    concurrency: int,
    seconds: float,
) -> Result:
    """Send, keeping ``concurrency`` requests unanswered, for ``seconds``."""
    ids = itertools.count(1)
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop:
            request_id = next(ids)
            answered = done[request_id] = asyncio.get_running_loop().create_future()
            started = time.perf_counter()
            await send(request_id)
            await answered
            latencies.append(time.perf_counter() - started)
            del done[request_id]

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(len(latencies), time.perf_counter() - began, latencies)


async def over_stdio(argv: list[str], concurrency: int, seconds: float) -> Result:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, "PORTCULLIS_API_KEY": API_KEY},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        limit=2**24,
    )
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout
    done: dict[int, asyncio.Future[None]] = {}

    async def read() -> None:
        while line := await stdout.readline():
            answer = orjson.loads(line)
            assert "result" in answer, answer
            future = done.get(answer.get("id"))
            if future is not None and not future.done():
                future.set_result(None)

    async def send(request_id: int) -> None:
        stdin.write(orjson.dumps(call(request_id)) + b"\n")
        await stdin.drain()

    reader = asyncio.create_task(read())
    try:
        await warm(send, done)
        return await keep_in_flight(send, done, concurrency, seconds)
    finally:
        stdin.close()
        await process.wait()
        reader.cancel()


async def over_http(url: str, concurrency: int, seconds: float) -> Result:
    headers = {
        "Authorization": f"Bearer {API_KEY}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": VERSION,
        "Mcp-Method": "tools/call",
        "Mcp-Name": "s1__echo",
    }
    done: dict[int, asyncio.Future[None]] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def send(request_id: int) -> None:
            async with http.post(url, data=orjson.dumps(call(request_id)), headers=headers) as response:
                answer = orjson.loads(await response.read())
            assert "result" in answer, answer
            done[request_id].set_result(None)

        await warm(send, done)
        return await keep_in_flight(send, done, concurrency, seconds)


async def warm(send: Callable[[int], Awaitable[None]], done: dict[int, asyncio.Future[None]]) -> None:
    """A few calls first: the upstream starts and the caches fill outside the measurement."""
    for request_id in range(-20, 0):
        answered = done[request_id] = asyncio.get_running_loop().create_future()
        await send(request_id)
        await asyncio.wait_for(answered, 60)
        del done[request_id]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stdio", description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="one short round (the suite runs it)")
    args = parser.parse_args(argv)
    duration, rounds = (1.0, 1) if args.smoke else (args.duration, args.rounds)
    print(f"# bench.stdio: {machine()}; load {loadavg()}")
    with Processes() as procs:
        echo = start_echo(procs, "s1")
        servers = {"s1": {"url": f"http://127.0.0.1:{echo.port}/mcp"}}
        settings = procs.dir / "stdio.toml"
        settings.write_text(gateway_settings(CONFIG, servers))
        serve = start_serve(procs, "serve", CONFIG, servers)
        url = f"http://127.0.0.1:{serve.port}/mcp"
        ways: dict[str, Callable[[int, float], Awaitable[Result]]] = {
            "http (serve)": lambda c, s: over_http(url, c, s),
            "stdio (in process)": lambda c, s: over_stdio(
                [PORTCULLIS, "stdio", "--settings", str(settings)], c, s
            ),
            "stdio --url (thin bridge)": lambda c, s: over_stdio([PORTCULLIS, "stdio", "--url", url], c, s),
        }
        for concurrency in (1, 16):
            print(f"\n## tools/call, {concurrency} in flight, best of {rounds} x {duration:.0f} s")
            for label, way in ways.items():
                best = max(
                    (asyncio.run(way(concurrency, duration)) for _ in range(rounds)),
                    key=lambda result: result.calls / result.seconds,
                )
                print(best.line(label), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
