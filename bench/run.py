"""Portcullis benchmark: the same MCP workload direct to an upstream and through the gateway.

One run, one machine. For each upstream kind, every cell is a pair (direct, gateway) measured
back to back, the order alternating from pair to pair so that drift hits both sides:

- upstreams: ``echo`` (b), the fastest handshake-era server we can write (bench/echo_server.py);
  ``sdk-http`` and ``sdk-stdio`` (a), a typical ``mcp`` SDK server (bench/sdk_server.py) over
  streamable HTTP and over stdio. The gateway aggregates three instances of each (s1, s2, s3).
- workloads: ``tools/call`` echo (small), ``tools/list`` merged over the three servers (direct:
  one server's list), ``tools/call`` returning 10 MB; concurrency 1, 8, 32, 128 (10 MB: 1, 8).
- load: wrk (one thread, Lua script bench/mcp.lua) where installed, else a Python closed loop
  (said in the output); a direct stdio server is always driven by the Python pipe client.
- probes (Python): concurrency-1 latency call by call, alternating sides; the ``mcp`` SDK
  client's view (c=1 latency and c=32 throughput), direct vs through the gateway.
- client era: the load and probes above speak the handshake era (initialize, a session per
  connection). Over (b), the same tools/call also goes through the gateway as a 2026-07-28
  client (no session; ``_meta`` and mirrored headers on every request): a third side of the
  c=1 probe, and a c=32 closed loop with the matrix's load generator.
- middleware cost: the same tools/call with auth off/on, the MCP-tier stack empty vs default,
  access log off (level warning) vs on (info, to a file).
- memory: gateway RSS with 1,000 and 10,000 idle sessions; peak RSS relaying a 10 MB result.

The gateway runs as deployed: API key auth, the default middleware stack of settings.toml,
logging at info to a file. Its CPU time comes from /proc/PID/stat and its peak RSS from VmHWM
(reset before each cell through /proc/PID/clear_refs).

Run: ``bash bench/run.sh`` (installs wrk and py-spy, then runs this), or
``.venv/bin/python -m bench [--duration 5] [--kinds echo,sdk-http,sdk-stdio] [--out FILE]``;
``--smoke`` is a tiny run for the test suite; ``python -m bench profile`` profiles the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import probes
from bench.harness import (
    PYTHON,
    ROOT,
    Endpoint,
    Era,
    GatewayConfig,
    HttpConnection,
    Load,
    Processes,
    ProcStats,
    Service,
    StdioPipes,
    Window,
    closed_loop,
    http_load,
    loadavg,
    machine,
    mcp_headers,
    open_session,
    request_body,
    request_tail,
    sdk_stdio_argv,
    start_echo,
    start_gateway,
    start_sdk_http,
    wrk_path,
)

KINDS = ("echo", "sdk-http", "sdk-stdio")
KIND_LABEL = {"echo": "(b) echo, HTTP", "sdk-http": "(a) SDK, HTTP", "sdk-stdio": "(a) SDK, stdio"}
SERVERS = ("s1", "s2", "s3")
DEPLOYED = GatewayConfig("auth on, default stack, access log at info to a file")
MODERN_SUFFIX = ", 2026-07-28 client"
"""Appended to the workload of a cell whose gateway side is a 2026-07-28 client."""
ERA_LEVEL = 32
"""The concurrency of the tools/call load of a client era other than the matrix's (legacy)."""
MIDDLEWARE_CONFIGS = (
    GatewayConfig("auth off, stack empty", auth=False, stack=(), log_level="warning"),
    GatewayConfig("auth on, stack empty", stack=(), log_level="warning"),
    GatewayConfig("auth on, default stack, log level warning", log_level="warning"),
    DEPLOYED,
)


@dataclass
class Options:
    duration: float = 5.0
    levels: tuple[int, ...] = (1, 8, 32, 128)
    big_levels: tuple[int, ...] = (1, 8)
    big_bytes: int = 10_000_000
    probe_calls: int = 500
    sdk_calls: int = 200
    sessions: tuple[int, ...] = (1_000, 10_000)
    kinds: tuple[str, ...] = KINDS
    loadgen: str = "auto"
    middleware: bool = True
    memory: bool = True
    smoke: bool = False
    root: Path = ROOT

    @property
    def use_wrk(self) -> bool:
        return self.loadgen == "wrk" or (self.loadgen == "auto" and wrk_path() is not None)


@dataclass
class Row:
    upstream: str
    workload: str
    direct: Load | None
    gateway: Load
    note: str = ""


@dataclass
class Report:
    options: Options
    rows: list[Row] = field(default_factory=list)
    memory: list[tuple[str, str, str]] = field(default_factory=list)
    facts: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    load_before: str = ""
    started: float = field(default_factory=time.monotonic)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        progress(format_row(row))


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the matrix -------------------------------------------------------------------------------------


def tails(big_bytes: int, prefix: str, era: Era = "legacy") -> dict[str, bytes]:
    return {
        "tools/call": request_tail(
            "tools/call", {"name": f"{prefix}echo", "arguments": probes.ECHO_ARGUMENTS}, era
        ),
        "tools/list": request_tail("tools/list", {}, era),
        "tools/call 10 MB": request_tail(
            "tools/call", {"name": f"{prefix}big", "arguments": {"size": big_bytes}}, era
        ),
    }


class Direct:
    """The direct side of a pair: an HTTP upstream, or a stdio server on our own pipes."""

    def __init__(self, endpoint: Endpoint | None, pipes: StdioPipes | None) -> None:
        self.endpoint, self.pipes = endpoint, pipes

    async def load(self, tail: bytes, concurrency: int, duration: float, use_wrk: bool) -> Load:
        if self.endpoint is not None:
            return await http_load(self.endpoint, tail, concurrency, duration, use_wrk=use_wrk)
        assert self.pipes is not None
        return await closed_loop(self.pipes.callers(tail, concurrency), duration)


async def gateway_load(
    gateway: Service, endpoint: Endpoint, tail: bytes, concurrency: int, duration: float, *, use_wrk: bool
) -> Load:
    return await http_load(
        endpoint, tail, concurrency, duration, use_wrk=use_wrk, window=Window(gateway.stats)
    )


async def warm(
    direct: Direct, gateway: Endpoint, direct_tail: bytes, gateway_tail: bytes, seconds: float
) -> None:
    await direct.load(direct_tail, 4, seconds, False)
    await http_load(gateway, gateway_tail, 4, seconds, use_wrk=False)


def era_workload(workload: str, era: Era) -> str:
    return workload + (MODERN_SUFFIX if era == "modern" else "")


def client_endpoints(kind: str, gateway: Service) -> list[Endpoint]:
    """The gateway as its clients reach it: a legacy client (what the matrix measures) and,
    over (b), a 2026-07-28 client too (same gateway process, same upstreams)."""
    assert gateway.port is not None
    legacy = Endpoint("gateway", gateway.port, auth=True)
    if kind != "echo":
        return [legacy]
    return [legacy, dataclasses.replace(legacy, label="gateway, 2026-07-28 client", era="modern")]


async def matrix(
    report: Report, kind: str, direct: Direct, gateway: Service, gateway_endpoints: Sequence[Endpoint]
) -> None:
    """Every workload and level for the first (legacy) endpoint; then tools/call at c=32 for
    each other client era."""
    options = report.options
    gateway_endpoint, *other_eras = gateway_endpoints
    direct_tails = tails(options.big_bytes, "")
    gateway_tails = tails(options.big_bytes, "s1__")
    # A direct stdio server has no HTTP: the Python pipe client drives it.
    direct_tool_wrk = options.use_wrk and direct.endpoint is not None
    pair = 0
    for workload, direct_tail in direct_tails.items():
        gateway_tail = gateway_tails[workload]
        await warm(direct, gateway_endpoint, direct_tail, gateway_tail, 0.05 if options.smoke else 0.5)
        levels = options.big_levels if "10 MB" in workload else options.levels
        for concurrency in levels:

            async def measure_direct(c: int = concurrency, t: bytes = direct_tail) -> Load:
                return await direct.load(t, c, options.duration, direct_tool_wrk)

            async def measure_gateway(c: int = concurrency, t: bytes = gateway_tail) -> Load:
                return await gateway_load(
                    gateway, gateway_endpoint, t, c, options.duration, use_wrk=options.use_wrk
                )

            first, second = (
                (measure_direct, measure_gateway) if pair % 2 == 0 else (measure_gateway, measure_direct)
            )
            a = await first()
            b = await second()
            direct_load, gateway_loadv = (a, b) if pair % 2 == 0 else (b, a)
            pair += 1
            note = "direct: one server's list" if workload == "tools/list" else ""
            report.add(Row(KIND_LABEL[kind], workload, direct_load, gateway_loadv, note))
    for endpoint in other_eras:
        await era_load(report, kind, direct, gateway, endpoint)


async def era_load(report: Report, kind: str, direct: Direct, gateway: Service, endpoint: Endpoint) -> None:
    """tools/call at c=32 through the gateway as a client of ``endpoint.era``, next to the
    direct upstream (measured again, just before), with the matrix's load generator: compare
    with the legacy tools/call row at the same concurrency."""
    options = report.options
    direct_tail = tails(options.big_bytes, "")["tools/call"]
    gateway_tail = tails(options.big_bytes, "s1__", endpoint.era)["tools/call"]
    concurrency = options.levels[-1] if options.smoke else ERA_LEVEL
    await warm(direct, endpoint, direct_tail, gateway_tail, 0.05 if options.smoke else 0.5)
    direct_wrk = options.use_wrk and direct.endpoint is not None
    d = await direct.load(direct_tail, concurrency, options.duration, direct_wrk)
    g = await gateway_load(
        gateway, endpoint, gateway_tail, concurrency, options.duration, use_wrk=options.use_wrk
    )
    note = "no session: _meta and mirrored headers on every request" if endpoint.era == "modern" else ""
    report.add(Row(KIND_LABEL[kind], era_workload("tools/call", endpoint.era), d, g, note))


# --- probes -----------------------------------------------------------------------------------------


async def raw_probe(
    report: Report,
    kind: str,
    direct_argv: Sequence[str] | None,
    direct: Endpoint | None,
    gateways: Sequence[Endpoint],
) -> None:
    """The direct side and each gateway endpoint (a legacy client, and over (b) a modern one),
    call by call in rotating order; one row per gateway endpoint, all on the same direct side."""
    options = report.options
    call = tails(options.big_bytes, "")["tools/call"]
    async with contextlib.AsyncExitStack() as stack:
        if direct is not None:
            direct_call = await stack.enter_async_context(probes.raw_http(direct, call))
        else:
            assert direct_argv is not None
            direct_call = await stack.enter_async_context(probes.raw_stdio(direct_argv, call))
        calls = [direct_call]
        for gateway in gateways:
            through = tails(options.big_bytes, "s1__", gateway.era)["tools/call"]
            calls.append(await stack.enter_async_context(probes.raw_http(gateway, through)))
        d, *loads = await probes.alternate(calls, options.probe_calls, 20)
    how = "pipes vs HTTP" if direct is None else "one keep-alive connection each"
    sides = f" ({len(calls)} sides)" if len(calls) > 2 else ""
    for gateway, g in zip(gateways, loads, strict=True):
        client = "; no session, _meta and mirrored headers" if gateway.era == "modern" else ""
        workload = era_workload("tools/call, c=1 probe", gateway.era)
        note = f"raw client, {how}{client}; alternating calls{sides}"
        report.add(Row(KIND_LABEL[kind], workload, d, g, note))


async def sdk_probes(
    report: Report, kind: str, direct_target: Any, gateway: Endpoint, gateway_service: Service
) -> None:
    options = report.options
    url = f"http://127.0.0.1:{gateway.port}{gateway.path}"
    async with (
        probes.sdk_client(direct_target) as direct_client,
        probes.sdk_client(url, auth=gateway.auth) as gateway_client,
    ):
        direct_call = probes.sdk_call(direct_client, "echo", probes.ECHO_ARGUMENTS)
        gateway_call = probes.sdk_call(gateway_client, "s1__echo", probes.ECHO_ARGUMENTS)
        d, g = await probes.alternate([direct_call, gateway_call], options.sdk_calls, 10)
        report.add(Row(KIND_LABEL[kind], "tools/call, c=1 mcp SDK client", d, g, "alternating calls"))
        concurrency = 32 if not options.smoke else 4
        loads = []
        client_us = []
        for index, call in enumerate((direct_call, gateway_call)):
            window = Window(gateway_service.stats) if index == 1 else None
            client = ProcStats(os.getpid())
            client_cpu = client.cpu_seconds()
            async with window or contextlib.nullcontext():
                load = await closed_loop([call] * concurrency, options.duration, tool="sdk client")
            client_us.append((client.cpu_seconds() - client_cpu) / max(1, load.requests) * 1e6)
            if window is not None:
                load.cpu, load.peak_mb, load.rss_before_mb = window.cpu, window.peak, window.rss_before
            loads.append(load)
        transport = "stdio" if kind == "sdk-stdio" else "HTTP"
        report.add(
            Row(
                KIND_LABEL[kind],
                f"tools/call, c={concurrency} mcp SDK client",
                loads[0],
                loads[1],
                f"one SDK client session, calls concurrent; the client's own CPU per call: "
                f"{client_us[0]:.0f} µs direct ({transport}), {client_us[1]:.0f} µs to the gateway (HTTP)",
            )
        )


async def middleware_cost(
    report: Report, direct: Endpoint, gateways: Sequence[tuple[GatewayConfig, Service]]
) -> None:
    """Direct, then each gateway configuration: c=1 probe and c=32 load, alternating."""
    options = report.options
    call = tails(options.big_bytes, "")["tools/call"]
    through = tails(options.big_bytes, "s1__")["tools/call"]
    endpoints = [Endpoint(c.label, s.port, auth=c.auth) for c, s in gateways]
    async with contextlib.AsyncExitStack() as stack:
        calls = [await stack.enter_async_context(probes.raw_http(direct, call))]
        for endpoint in endpoints:
            calls.append(await stack.enter_async_context(probes.raw_http(endpoint, through)))
        latencies = await probes.alternate(calls, options.probe_calls, 20)
    for (config, _), load in zip(gateways, latencies[1:], strict=True):
        report.add(
            Row(
                KIND_LABEL["echo"],
                f"tools/call c=1 probe; {config.label}",
                latencies[0],
                load,
                "middleware cost",
            )
        )
    concurrency = 32 if not options.smoke else 4
    rounds = 2
    duration = options.duration / rounds
    sides: list[Callable[[], Coroutine[Any, Any, Load]]] = [
        lambda: http_load(direct, call, concurrency, duration, use_wrk=options.use_wrk)
    ]
    for (_, service), endpoint in zip(gateways, endpoints, strict=True):
        sides.append(
            lambda s=service, e=endpoint: gateway_load(
                s, e, through, concurrency, duration, use_wrk=options.use_wrk
            )
        )
    results: list[list[Load]] = [[] for _ in sides]
    for round_index in range(rounds):
        order = list(range(len(sides)))
        if round_index % 2:
            order.reverse()
        for index in order:
            results[index].append(await sides[index]())
    merged = [merge(loads) for loads in results]
    for (config, _), load in zip(gateways, merged[1:], strict=True):
        report.add(
            Row(
                KIND_LABEL["echo"],
                f"tools/call c={concurrency}; {config.label}",
                merged[0],
                load,
                "middleware cost",
            )
        )


def merge(loads: Sequence[Load]) -> Load:
    """Rounds of the same cell: counts add up, percentiles are averaged."""
    first = loads[0]
    merged = Load(
        first.tool,
        first.concurrency,
        sum(x.requests for x in loads),
        sum(x.seconds for x in loads),
        sum(x.errors for x in loads),
        sum(x.p50 for x in loads) / len(loads),
        sum(x.p95 for x in loads) / len(loads),
        sum(x.p99 for x in loads) / len(loads),
    )
    if all(x.cpu is not None for x in loads):
        merged.cpu = sum(x.cpu or 0.0 for x in loads)
        merged.peak_mb = max(x.peak_mb or 0.0 for x in loads)
    return merged


# --- memory -----------------------------------------------------------------------------------------


async def idle_sessions(report: Report, gateway: Service, endpoint: Endpoint) -> None:
    """Open sessions (initialize + initialized, 16 connections) and read RSS at each mark."""
    stats = gateway.stats
    baseline = stats.rss_mb()
    report.memory.append(("gateway RSS, started and warmed, no session", f"{baseline:.1f} MB", ""))
    opened = 0
    connections = [
        await HttpConnection.open(endpoint.port, endpoint.path, mcp_headers(endpoint.auth)) for _ in range(16)
    ]
    try:
        spent = 0.0
        for mark in report.options.sessions:

            async def opener(connection: HttpConnection, count: int) -> None:
                for _ in range(count):
                    await open_session(connection)

            todo = mark - opened
            share = [
                todo // len(connections) + (i < todo % len(connections)) for i in range(len(connections))
            ]
            started = time.perf_counter()
            await asyncio.gather(*(opener(c, n) for c, n in zip(connections, share, strict=True)))
            spent += time.perf_counter() - started
            opened = mark
            await asyncio.sleep(0.1 if report.options.smoke else 1.0)
            rss = stats.rss_mb()
            per = (rss - baseline) * 1024 / mark
            report.facts[f"sessions_{mark}"] = rss
            report.memory.append(
                (
                    f"gateway RSS with {mark:,} idle sessions",
                    f"{rss:.1f} MB",
                    f"+{rss - baseline:.1f} MB, {per:.2f} KB per session",
                )
            )
            progress(f"  {mark} sessions: RSS {rss:.1f} MB")
        report.memory.append(
            (
                "sessions opened per second",
                f"{opened / spent:,.0f}",
                "initialize + initialized, 16 connections",
            )
        )
    finally:
        for connection in connections:
            connection.close()


async def big_relay(report: Report, gateway: Service, endpoint: Endpoint, label: str, calls: int) -> None:
    """Peak RSS growth while relaying ``calls`` 10 MB results one after another."""
    options = report.options
    small = tails(options.big_bytes, "s1__")["tools/call"]
    big = tails(options.big_bytes, "s1__")["tools/call 10 MB"]
    connection = await HttpConnection.open(endpoint.port, endpoint.path, mcp_headers(endpoint.auth))
    try:
        session = await open_session(connection)
        for i in range(5):
            await connection.post(request_body(i + 1, small), session)
        stats = gateway.stats
        async with Window(stats) as window:
            sizes = []
            for i in range(calls):
                status, _, body = await connection.post(request_body(100 + i, big), session)
                if status != 200 or b'"error":{' in body[:200]:
                    raise RuntimeError(f"the 10 MB call failed: {status} {body[:300]!r}")
                sizes.append(len(body))
        growth = window.peak - window.rss_before
        # The payload is what the gateway relays: the response body (an SDK server sends its
        # text twice, as content and as structuredContent).
        ratio = growth * 1024 * 1024 / max(sizes)
        report.facts[f"big_growth_{label}"] = ratio
        how = "VmHWM reset before" if window.peak_exact else "sampled every 10 ms"
        report.memory.append(
            (
                f"gateway peak RSS relaying {options.big_bytes / 1e6:g} MB results, {label}",
                f"{window.peak:.1f} MB",
                f"from {window.rss_before:.1f} MB: +{growth:.1f} MB = {ratio:.2f}x the relayed body "
                f"({calls} calls, one at a time; body {sizes[0]:,} bytes; {how})",
            )
        )
    finally:
        connection.close()


# --- one upstream kind ------------------------------------------------------------------------------


async def kind_block(report: Report, kind: str, procs: Processes) -> None:
    options = report.options
    progress(f"== {KIND_LABEL[kind]}: starting servers")
    upstreams: list[Service] = []
    if kind == "sdk-stdio":
        servers = {
            name: {"command": PYTHON, "args": sdk_stdio_argv(name)[1:], "start": "eager"} for name in SERVERS
        }
    else:
        start = start_echo if kind == "echo" else start_sdk_http
        upstreams = [start(procs, name, wait=False) for name in SERVERS]
        for upstream in upstreams:
            upstream.ready()
        servers = {
            name: {"url": f"http://127.0.0.1:{u.port}/mcp", "start": "eager"}
            for name, u in zip(SERVERS, upstreams, strict=True)
        }
    gateway = start_gateway(procs, kind, DEPLOYED, servers, root=options.root, wait=False)
    extra: list[tuple[GatewayConfig, Service]] = []
    if kind == "echo" and options.middleware:
        for index, config in enumerate(MIDDLEWARE_CONFIGS[:-1]):
            extra.append(
                (
                    config,
                    start_gateway(procs, f"{kind}-mw{index}", config, servers, root=options.root, wait=False),
                )
            )
    memory_gateway = None
    if kind == "echo" and options.memory:
        memory_gateway = start_gateway(
            procs, f"{kind}-memory", DEPLOYED, servers, root=options.root, wait=False
        )
    for service in [gateway, *(s for _, s in extra)] + ([memory_gateway] if memory_gateway else []):
        service.ready()
    gateways = client_endpoints(kind, gateway)
    direct_endpoint = Endpoint("direct", upstreams[0].port) if upstreams else None
    direct_argv = sdk_stdio_argv("s1") if kind == "sdk-stdio" else None

    progress(f"== {KIND_LABEL[kind]}: probes")
    await raw_probe(report, kind, direct_argv, direct_endpoint, gateways)
    if kind != "echo":
        target = (
            probes.stdio_parameters(direct_argv)
            if direct_argv
            else f"http://127.0.0.1:{upstreams[0].port}/mcp"
        )
        await sdk_probes(report, kind, target, gateways[0], gateway)

    progress(f"== {KIND_LABEL[kind]}: load matrix ({'wrk' if options.use_wrk else 'python'})")
    async with contextlib.AsyncExitStack() as stack:
        pipes = await stack.enter_async_context(StdioPipes(direct_argv)) if direct_argv else None
        await matrix(report, kind, Direct(direct_endpoint, pipes), gateway, gateways)

    if extra:
        progress("== middleware cost")
        assert direct_endpoint is not None
        await middleware_cost(report, direct_endpoint, [*extra, (DEPLOYED, gateway)])
    if memory_gateway is not None:
        progress("== memory")
        endpoint = Endpoint("memory", memory_gateway.port, auth=True)
        await idle_sessions(report, memory_gateway, endpoint)
        await big_relay(report, memory_gateway, endpoint, "echo upstream", 5 if not options.smoke else 2)
        report.memory.append(
            (
                "gateway RSS after the 10 MB calls, idle",
                f"{memory_gateway.stats.rss_mb():.1f} MB",
                "what the relays left behind (allocator, live references)",
            )
        )
    if kind == "sdk-stdio" and options.memory:
        progress("== memory")
        fresh = start_gateway(procs, f"{kind}-memory", DEPLOYED, servers, root=options.root)
        endpoint = Endpoint("memory", fresh.port, auth=True)
        await big_relay(report, fresh, endpoint, "SDK stdio upstream", 3 if not options.smoke else 1)
        fresh.stop()
    for service in [gateway, *(s for _, s in extra)]:
        service.stop()
    for upstream in upstreams:
        upstream.stop()
    if memory_gateway is not None:
        memory_gateway.stop()


async def wrk_check(report: Report, procs: Processes) -> None:
    """Smoke only: short wrk cells (a legacy and a 2026-07-28 client), so that the Lua script
    cannot rot where wrk exists."""
    upstream = start_echo(procs, "wrk-check")
    gateway = start_gateway(
        procs, "wrk-check", DEPLOYED, {"s1": {"url": f"http://127.0.0.1:{upstream.port}/mcp"}}
    )
    direct = await http_load(
        Endpoint("direct", upstream.port), tails(1000, "")["tools/call"], 2, 1, use_wrk=True
    )
    for endpoint in client_endpoints("echo", gateway):
        tail = tails(1000, "s1__", endpoint.era)["tools/call"]
        through = await gateway_load(gateway, endpoint, tail, 2, 1, use_wrk=True)
        workload = era_workload("tools/call, wrk check", endpoint.era)
        report.add(Row(KIND_LABEL["echo"], workload, direct, through, "smoke: wrk and bench/mcp.lua"))
    gateway.stop()
    upstream.stop()


# --- report -----------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _triple(load: Load | None) -> str:
    return "-" if load is None else f"{_ms(load.p50)} / {_ms(load.p95)} / {_ms(load.p99)}"


HEADER = (
    "| upstream | workload | c | load | direct req/s | gateway req/s | ratio g/d "
    "| direct p50 / p95 / p99 ms | gateway p50 / p95 / p99 ms | overhead p50 / p99 ms "
    "| errors d/g | gw CPU µs/req | gw peak RSS MB | note |"
)


def format_row(row: Row) -> str:
    d, g = row.direct, row.gateway
    ratio = f"{g.rps / d.rps:.2f}" if d is not None and d.rps else "-"
    overhead = "-" if d is None else f"{g.p50 - d.p50:+.3f} / {g.p99 - d.p99:+.3f}"
    errors = f"{d.errors if d else '-'}/{g.errors}"
    cpu = f"{g.cpu_us:.0f}" if g.cpu_us is not None else "-"
    peak = f"{g.peak_mb:.0f}" if g.peak_mb is not None else "-"
    tool = g.tool if d is None or d.tool == g.tool else f"{d.tool} / {g.tool}"
    cells = [
        row.upstream,
        row.workload,
        str(g.concurrency),
        tool,
        f"{d.rps:,.0f}" if d else "-",
        f"{g.rps:,.0f}",
        ratio,
        _triple(d),
        _triple(g),
        overhead,
        errors,
        cpu,
        peak,
        row.note,
    ]
    return "| " + " | ".join(cells) + " |"


def find(report: Report, upstream: str, workload: str, concurrency: int | None = None) -> Row | None:
    for row in report.rows:
        if (
            row.upstream == KIND_LABEL[upstream]
            and row.workload == workload
            and (concurrency is None or row.gateway.concurrency == concurrency)
        ):
            return row
    return None


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def echo_budget(report: Report, era: Era) -> list[str]:
    """The budget over (b), for a client of ``era``."""
    lines = []
    over = "(b)" + (", 2026-07-28 client" if era == "modern" else "")
    probe = find(report, "echo", era_workload("tools/call, c=1 probe", era))
    if probe and probe.direct:
        p50 = probe.gateway.p50 - probe.direct.p50
        p99 = probe.gateway.p99 - probe.direct.p99
        lines.append(f"- {verdict(p50 < 1)} added latency c=1 over {over}, p50 < 1 ms: {p50:+.3f} ms (probe)")
        lines.append(f"- {verdict(p99 < 3)} added latency c=1 over {over}, p99 < 3 ms: {p99:+.3f} ms (probe)")
    cell = find(report, "echo", era_workload("tools/call", era), 32)
    if cell:
        cpu = cell.gateway.cpu_us
        lines.append(
            f"- {verdict(cell.gateway.rps >= 3000)} throughput c=32 over {over} >= 3,000 req/s: "
            f"{cell.gateway.rps:,.0f} req/s"
        )
        if cpu is not None:
            lines.append(
                f"- {verdict(cpu <= 400)} gateway CPU per request c=32 over {over} <= 400 µs: {cpu:.0f} µs"
            )
    return lines


def budget(report: Report) -> list[str]:
    lines = [*echo_budget(report, "legacy"), *echo_budget(report, "modern")]
    for kind in ("sdk-http", "sdk-stdio"):
        cell = find(report, kind, "tools/call", 32)
        if cell and cell.direct:
            ratio = cell.gateway.rps / cell.direct.rps
            lines.append(
                f"- {verdict(ratio >= 0.8)} throughput c=32 over {KIND_LABEL[kind]} >= 80% of direct: "
                f"{ratio:.0%} ({cell.gateway.rps:,.0f} vs {cell.direct.rps:,.0f} req/s)"
            )
        probe = find(report, kind, "tools/call, c=1 probe")
        if probe and probe.direct:
            p50 = probe.gateway.p50 - probe.direct.p50
            p99 = probe.gateway.p99 - probe.direct.p99
            lines.append(
                f"- {verdict(p50 < 1 and p99 < 3)} added latency c=1 over {KIND_LABEL[kind]} (raw clients), "
                f"p50 < 1 ms and p99 < 3 ms: {p50:+.3f} / {p99:+.3f} ms"
            )
        for workload in ("tools/call, c=1 mcp SDK client", "tools/call, c=32 mcp SDK client"):
            sdk = find(report, kind, workload)
            if sdk and sdk.direct:
                if "c=1" in workload:
                    p50 = sdk.gateway.p50 - sdk.direct.p50
                    p99 = sdk.gateway.p99 - sdk.direct.p99
                    lines.append(
                        f"- {verdict(p50 < 1 and p99 < 3)} mcp SDK client c=1 over {KIND_LABEL[kind]}, added "
                        f"p50 < 1 ms and p99 < 3 ms: {p50:+.3f} / {p99:+.3f} ms"
                    )
                else:
                    ratio = sdk.gateway.rps / sdk.direct.rps
                    lines.append(
                        f"- {verdict(ratio >= 0.8)} mcp SDK client c=32 over {KIND_LABEL[kind]} >= 80% of "
                        f"direct: {ratio:.0%} ({sdk.gateway.rps:,.0f} vs {sdk.direct.rps:,.0f} req/s)"
                    )
    for key, value in report.facts.items():
        if key.startswith("big_growth_"):
            lines.append(
                f"- {verdict(value < 3)} relaying {report.options.big_bytes / 1e6:g} MB, {key[11:]}: "
                f"peak RSS grows by < 3x the relayed body: {value:.2f}x"
            )
    last = max((n for n in report.options.sessions), default=0)
    if f"sessions_{last}" in report.facts:
        rss = report.facts[f"sessions_{last}"]
        lines.append(
            f"- {verdict(rss < 200 or last < 10_000)} {last:,} idle sessions < 200 MB RSS: {rss:.1f} MB"
        )
    return lines


def render(report: Report) -> str:
    options = report.options
    out = ["# Portcullis benchmark", ""]
    if options.use_wrk:
        loadgen = "wrk (1 thread, bench/mcp.lua)"
    elif wrk_path() is None:
        loadgen = (
            "Python closed loop (wrk is not installed, so the bench fell back to it; "
            "bench/setup.sh installs wrk)"
        )
    elif options.smoke:
        loadgen = "Python closed loop (smoke run; one wrk cell checks wrk and bench/mcp.lua)"
    else:
        loadgen = "Python closed loop (--loadgen python)"
    out += [
        f"- machine: {machine()}",
        f"- load average (1/5/15 min): before {report.load_before}; after {loadavg()}",
        f"- load generator: {loadgen}; a direct stdio server is driven by the Python pipe client",
        f"- {options.duration:g} s per cell; concurrency {', '.join(map(str, options.levels))}; "
        f"10 MB cells at {', '.join(map(str, options.big_levels))}; payload {options.big_bytes:,} bytes",
        f"- gateway as deployed: {DEPLOYED.label} (API key in `Authorization: Bearer`); "
        f"gateway code from {options.root}",
        f"- run took {time.monotonic() - report.started:.0f} s",
        "",
        HEADER,
        "|" + "---|" * HEADER.count(" | ") + "---|",
    ]
    out += [format_row(row) for row in report.rows]
    if report.memory:
        out += ["", "| memory | value | detail |", "|---|---|---|"]
        out += [f"| {a} | {b} | {c} |" for a, b, c in report.memory]
    out += ["", "Budget:", *budget(report)]
    out += [*report.notes]
    return "\n".join(out) + "\n"


# --- entry ------------------------------------------------------------------------------------------


async def run(options: Options) -> Report:
    report = Report(options, load_before=loadavg())
    if options.loadgen == "wrk" and wrk_path() is None:
        raise SystemExit("bench: --loadgen wrk, but wrk is not installed (bash bench/setup.sh)")
    with Processes() as procs:
        for kind in options.kinds:
            await kind_block(report, kind, procs)
        if options.smoke and wrk_path() is not None:
            await wrk_check(report, procs)
    return report


def parse(argv: Sequence[str] | None = None) -> tuple[Options, Path | None]:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured cell (default 5)")
    parser.add_argument("--levels", default="1,8,32,128", help="concurrency levels (default 1,8,32,128)")
    parser.add_argument("--big-levels", default="1,8", help="concurrency of the 10 MB cells (default 1,8)")
    parser.add_argument("--big-bytes", type=int, default=10_000_000)
    parser.add_argument("--probe-calls", type=int, default=500, help="calls per side in c=1 probes")
    parser.add_argument("--sdk-calls", type=int, default=200, help="calls per side in SDK client probes")
    parser.add_argument("--sessions", default="1000,10000", help="idle-session marks (default 1000,10000)")
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help=f"upstream kinds (default {','.join(KINDS)})"
    )
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-middleware", action="store_true", help="skip the middleware-cost cells")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurements")
    parser.add_argument("--root", type=Path, default=ROOT, help="run the gateway from this checkout")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks everything works")
    args = parser.parse_args(argv)

    def ints(text: str) -> tuple[int, ...]:
        return tuple(int(x) for x in text.split(",") if x)

    options = Options(
        duration=args.duration,
        levels=ints(args.levels),
        big_levels=ints(args.big_levels),
        big_bytes=args.big_bytes,
        probe_calls=args.probe_calls,
        sdk_calls=args.sdk_calls,
        sessions=ints(args.sessions),
        kinds=tuple(k for k in args.kinds.split(",") if k),
        loadgen=args.loadgen,
        middleware=not args.no_middleware,
        memory=not args.no_memory,
        root=args.root.resolve(),
    )
    unknown = set(options.kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; choose from {', '.join(KINDS)}")
    if args.smoke:
        options.smoke = True
        options.duration = 0.3
        options.levels = (2,)
        options.big_levels = (1,)
        options.big_bytes = 100_000
        options.probe_calls = 10
        options.sdk_calls = 5
        options.sessions = (20, 50)
        options.loadgen = "python"
    return options, args.out


def main(argv: Sequence[str] | None = None) -> int:
    options, out = parse(argv)
    runner = asyncio.Runner(loop_factory=_loop_factory())
    with runner:
        report = runner.run(run(options))
    text = render(report)
    print(text)
    if out is not None:
        out.write_text(text)
    return 0


def _loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
