"""Part (d): slow and vanishing clients. Clients that start a call and drop the connection,
and clients that read a large SSE answer a kilobyte at a time, while a canary of each era
keeps calling a tool: the canary must be served throughout, and once they are gone the
gateway's open descriptors and RSS must come back to where they were."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from bench.harness import mirrored_headers, request_body, request_tail
from reliability.fuzz_cases import request
from reliability.lab import Client, Lab, auth_header, clients, ok, wait_for
from reliability.report import Part

SLOW_READ = 1024
"""Bytes a slow reader takes at a time."""


def raw_call(
    era: str, session: str, tool: str, arguments: dict[str, object], progress: bool = False
) -> bytes:
    """A tools/call on the wire, as each era's client sends it."""
    params: dict[str, object] = {"name": tool, "arguments": arguments}
    if progress:
        params["_meta"] = {"progressToken": "p"}
    tail = request_tail("tools/call", params, "modern" if era == "modern" else "legacy")
    headers = {"host": "127.0.0.1", "accept": "application/json, text/event-stream"}
    headers |= {"content-type": "application/json", "authorization": auth_header()}
    if era == "modern":
        headers |= {k.lower(): v for k, v in mirrored_headers(tail).items()}
    else:
        headers |= {"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
    return request("POST", "/mcp", headers, request_body(1, tail))


async def vanish(port: int, raw: bytes, after: float) -> None:
    """Send a call, wait ``after`` seconds, then drop the connection without reading."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await asyncio.sleep(after)
    writer.transport.abort()


async def slow_reader(port: int, raw: bytes, seconds: float) -> int:
    """Read an answer SLOW_READ bytes every 50 ms with a tiny receive buffer, then leave."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=SLOW_READ)
    writer.write(raw)
    received = 0
    deadline = time.monotonic() + seconds
    with contextlib.suppress(ConnectionError):
        while time.monotonic() < deadline and (chunk := await reader.read(SLOW_READ)):
            received += len(chunk)
            await asyncio.sleep(0.05)
    writer.transport.abort()
    return received


PROMPT = 1.0
"""A canary call slower than this while others misbehave means they held it up (a quiet call
takes a few milliseconds; the slow readers read for 2 s)."""


async def canary_loop(
    pair: list[Client],
    stop: asyncio.Event,
    latencies: list[tuple[str, float]],
    failures: list[str],
    phase: list[str],
) -> None:
    """Call a tool from each era's client until ``stop``; each latency is tagged with
    the phase (``phase[0]``) in which the call started."""
    while not stop.is_set():
        for client in pair:
            started, during = time.monotonic(), phase[0]
            try:
                answer = await asyncio.wait_for(client.call("up__echo", {"text": "canary"}), 10)
            except (ConnectionError, RuntimeError, TimeoutError) as exc:
                answer = {"exception": repr(exc)}
            latencies.append((during, time.monotonic() - started))
            if not ok(answer):
                failures.append(repr(answer)[:300])
        await asyncio.sleep(0.02)


async def run(lab: Lab, vanishing: int, slow: int) -> Part:
    part = Part("(d) slow and vanishing clients")
    latencies: list[tuple[str, float]] = []
    failures: list[str] = []
    stop, phase = asyncio.Event(), ["vanishing"]
    async with clients(lab.port, "legacy", "modern", "legacy") as (legacy, modern, owner):
        await owner.request("ping", {})
        session = owner.session_id
        for client in (legacy, modern):  # connected and the upstream started: the baseline
            await client.call("up__echo", {"text": "warm"})
        fds_before, rss_before, rss_peak = lab.fds(), lab.rss_mb(), 0.0
        canary = asyncio.create_task(canary_loop([legacy, modern], stop, latencies, failures, phase))
        for start in range(0, vanishing, 20):
            batch = []
            for index in range(start, min(start + 20, vanishing)):
                era = "modern" if index % 2 else "legacy"
                batch.append(vanish(lab.port, raw_call(era, session, "up__slow", {"seconds": 1.5}), 0.05))
            await asyncio.gather(*batch)
            rss_peak = max(rss_peak, lab.rss_mb())
        phase[0] = "slow readers"
        chatty = raw_call("legacy", session, "up__chatty", {"count": 200, "size": 16384}, progress=True)
        readers = [slow_reader(lab.port, chatty, 2.0) for _ in range(slow)]
        read = await asyncio.gather(*readers)
        phase[0] = "after"
        rss_peak = max(rss_peak, lab.rss_mb())
        settled = await wait_for(lambda: lab.fds() <= fds_before + 2, 10.0, 0.1)
        stop.set()
        await canary
    part.figures = {
        "vanishing clients": vanishing,
        "slow SSE readers (2 s, 1 KB per 50 ms)": slow,
        "bytes each slow reader got (min)": min(read) if read else 0,
        "canary calls / failures": [len(latencies), len(failures)],
        "canary slowest call, s, by phase": slowest(latencies),
        "canary failures (first)": failures[:3],
        "gateway open fds before / after": [fds_before, lab.fds()],
        "gateway RSS MB before / peak / after": [
            round(rss_before, 1),
            round(rss_peak, 1),
            round(lab.rss_mb(), 1),
        ],
    }
    part.checks = {
        "gateway alive": lab.alive(),
        "other clients served throughout": not failures and bool(latencies),
        f"other clients served promptly (every canary call < {PROMPT:g} s)": all(
            seconds < PROMPT for _, seconds in latencies
        ),
        "open fds back to the baseline": settled,
        "RSS after < before + 30 MB": lab.rss_mb() < rss_before + 30,
    }
    return part


def slowest(latencies: list[tuple[str, float]]) -> dict[str, float]:
    found: dict[str, float] = {}
    for phase, seconds in latencies:
        found[phase] = round(max(found.get(phase, 0.0), seconds), 3)
    return found
