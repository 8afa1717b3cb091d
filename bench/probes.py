"""Python probes: concurrency-1 latency measured call by call, and the ``mcp`` SDK client's view.

A probe alternates its sides call by call (direct, gateway, gateway, direct, ...) so that any
drift hits every side alike, and measures each call with ``perf_counter``.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bench.harness import (
    Call,
    Endpoint,
    HttpConnection,
    Load,
    StdioPipes,
    client_headers,
    load_from_latencies,
    mcp_headers,
    request_body,
)

ECHO_ARGUMENTS = {"text": "hello"}


async def alternate(calls: Sequence[Call], count: int, warmup: int) -> list[Load]:
    """``count`` rounds, each calling every side once, in an order that rotates every round."""
    for _ in range(warmup):
        for call in calls:
            await call()
    latencies: list[list[float]] = [[] for _ in calls]
    errors = [0] * len(calls)
    spent = [0.0] * len(calls)
    clock = time.perf_counter
    for round_index in range(count):
        order = list(range(len(calls)))
        shift = round_index % len(calls)
        order = order[shift:] + order[:shift]
        if round_index % 2:
            order.reverse()
        for index in order:
            started = clock()
            ok = await calls[index]()
            elapsed = clock() - started
            spent[index] += elapsed
            latencies[index].append(elapsed * 1000)
            if not ok:
                errors[index] += 1
    return [load_from_latencies("probe", 1, spent[i], latencies[i], errors[i]) for i in range(len(calls))]


@contextlib.asynccontextmanager
async def raw_http(endpoint: Endpoint, tail: bytes) -> AsyncIterator[Call]:
    """One keep-alive connection posting ``tail`` requests, as a client of ``endpoint.era``:
    with its own session (legacy), or with none and the mirrored headers (modern)."""
    connection = await HttpConnection.open(endpoint.port, endpoint.path, mcp_headers(endpoint.auth))
    try:
        extra = await client_headers(connection, endpoint, tail)
        ids = itertools.count(1)

        async def call() -> bool:
            status, _, body = await connection.post(request_body(next(ids), tail), extra)
            return endpoint.succeeded(status, body)

        yield call
    finally:
        connection.close()


@contextlib.asynccontextmanager
async def raw_stdio(argv: Sequence[str], tail: bytes) -> AsyncIterator[Call]:
    async with StdioPipes(argv) as pipes:
        yield pipes.callers(tail, 1)[0]


@contextlib.asynccontextmanager
async def sdk_client(target: Any, *, auth: bool = False) -> AsyncIterator[Any]:
    """The ``mcp`` SDK client: a StdioServerParameters, or an HTTP URL (with our API key)."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    if isinstance(target, str):
        headers = {"authorization": mcp_headers(True)["Authorization"]} if auth else {}
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0))
        async with http, Client(streamable_http_client(target, http_client=http), mode="legacy") as client:
            yield client
    else:
        async with Client(target, mode="legacy") as client:
            yield client


def sdk_call(client: Any, tool: str, arguments: dict[str, Any]) -> Call:
    async def call() -> bool:
        result = await client.call_tool(tool, arguments)
        return not result.is_error

    return call


def stdio_parameters(argv: Sequence[str]) -> Any:
    from mcp import StdioServerParameters

    return StdioServerParameters(command=argv[0], args=list(argv[1:]))
