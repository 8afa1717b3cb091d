"""Portcullis against peer gateways: the same ``tools/call`` of the bench's echo server, direct and
through each gateway, from the same client.

Sides: the echo server called directly (the baseline), Portcullis (``python -m gateway serve``),
IBM ContextForge (``mcp-contextforge-gateway``) and Enkrypt's Secure MCP Gateway
(``secure-mcp-gateway``). Every gateway fronts the same ``bench/echo_server.py`` instance over
streamable HTTP, with its own authentication on (an API key, a JWT, a gateway key) and its
guardrails and plugins off: this measures the proxy. Each peer is installed from PyPI, at a pinned
version, into its own virtualenv under ``.tools/peers/<name>/`` (skipped when it is there).

The client is the harness's: one keep-alive HTTP/1.1 connection per concurrent caller, each
opening an MCP session the way the side asks (initialize, then notifications/initialized with
the session id when the server gives one), then ``tools/call`` back to back for the duration.
Concurrency 1 and 16, best of N rounds by calls/s, the sides in rotating order in each round.
The gateway's CPU comes from /proc/PID/stat over the timed window only. The load generator runs
on the same cores as every server: compare the sides with one another, not with another machine.

Besides each peer as its docs set it up, two variants change one documented setting each:
``contextforge-stateful`` (``USE_STATEFUL_SESSIONS=true``: one upstream session per client
session, not one per call) and ``enkrypt-nopool`` (``session_pool_enabled: false``: its pooled
upstream session deadlocks for 30 s under concurrent calls). Enkrypt always binds port 8000, so
one Enkrypt variant per run.

Run ``.venv/bin/python -m bench.peers [--duration 5] [--rounds 3] [--peers a,b] [--out FILE]``;
``--smoke`` is one short round (it still installs the peers, from the network, the first time);
``--check`` starts every side and makes one call through each, without load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench.harness import (
    ACCEPT,
    CLIENT_INFO,
    ERROR_MARK,
    INITIALIZED,
    PROTOCOL,
    Call,
    HttpConnection,
    Load,
    Processes,
    ProcStats,
    Service,
    Window,
    closed_loop,
    loadavg,
    machine,
    request_body,
    start_echo,
)
from bench.peers_install import CONTEXTFORGE, PEERS, install, progress
from bench.peers_sides import (
    CALL_TIMEOUT,
    DEFAULT_VARIANTS,
    EXPECTED,
    TOOL_ERROR,
    VARIANTS,
    Side,
    TreeStats,
    Variant,
    contextforge_side,
    direct_side,
    enkrypt_side,
    portcullis_side,
)

# --- the client ---------------------------------------------------------------------------------


INITIALIZE = orjson.dumps(
    {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": CLIENT_INFO},
    }
)


def answered(status: int, body: bytes) -> bool:
    return status == 200 and ERROR_MARK not in body and TOOL_ERROR not in body and EXPECTED in body


async def connect(side: Side) -> tuple[HttpConnection, bytes]:
    """A connection with its MCP session open: initialize, and notifications/initialized naming
    the session if the server gave one (ContextForge runs stateless by default, the others not)."""
    headers = {"Accept": ACCEPT, "Content-Type": "application/json", **side.headers}
    connection = await HttpConnection.open(side.port, side.path, headers)
    status, answer_headers, body = await connection.post(INITIALIZE)
    if status != 200 or ERROR_MARK in body:
        raise RuntimeError(f"{side.label}: initialize answered {status}: {body[:300]!r}")
    extra = f"MCP-Protocol-Version: {PROTOCOL}\r\n".encode()
    session = answer_headers.get(b"mcp-session-id")
    if session is not None:
        extra = b"Mcp-Session-Id: " + session + b"\r\n" + extra
    status, _, body = await connection.post(INITIALIZED, extra)
    if status not in (200, 202):
        raise RuntimeError(f"{side.label}: notifications/initialized answered {status}: {body[:300]!r}")
    return connection, extra


@dataclass
class Measured:
    load: Load
    """With the gateway's CPU over the timed window."""
    upstream_us: float
    """The echo server's CPU per call."""
    log_bytes: float
    """The gateway's log output per call."""
    failure: bytes | None
    """The first answer that was not the echo (status and start of the body), if any."""


async def measure(side: Side, concurrency: int, duration: float, warm: float) -> Measured:
    """A closed loop of ``concurrency`` callers, after a short untimed one."""
    failures: list[bytes] = []
    connections = await asyncio.gather(*(connect(side) for _ in range(concurrency)))
    ids = itertools.count(1)
    tail = side.tail

    def caller(connection: HttpConnection, extra: bytes) -> Call:
        async def call() -> bool:
            # A server that closes an idle keep-alive connection leaves the next post unanswered:
            # the timeout (an OSError) makes closed_loop fail loudly instead of waiting forever.
            request = connection.post(request_body(next(ids), tail), extra)
            status, _, body = await asyncio.wait_for(request, CALL_TIMEOUT)
            ok = answered(status, body)
            if not ok and not failures:
                failures.append(f"HTTP {status}: ".encode() + body[:400])
            return ok

        return call

    callers = [caller(connection, extra) for connection, extra in connections]
    try:
        # A short closed loop on every connection at once (none sits idle past the server's
        # keep-alive timeout), at least one call each: sessions and caches are warm.
        warming = await closed_loop(callers, warm)
        if warming.errors:
            raise RuntimeError(f"{side.label}: {warming.errors} warm-up calls failed")
        window = Window(TreeStats(side.process.process.pid)) if side.process is not None else None
        assert side.upstream is not None
        upstream = ProcStats(side.upstream.process.pid)
        upstream_before, log_before = upstream.cpu_seconds(), side.log_size()
        async with window or contextlib.nullcontext():
            load = await closed_loop(callers, duration)
        calls = max(1, load.requests)
        upstream_us = (upstream.cpu_seconds() - upstream_before) / calls * 1e6
        log_bytes = (side.log_size() - log_before) / calls
        if window is not None:
            load.cpu, load.peak_mb, load.rss_before_mb = window.cpu, window.peak, window.rss_before
        return Measured(load, upstream_us, log_bytes, failures[0] if failures else None)
    finally:
        for connection, _ in connections:
            connection.close()


async def one_call(side: Side) -> bytes:
    connection, extra = await connect(side)
    try:
        status, _, body = await connection.post(request_body(1, side.tail), extra)
    finally:
        connection.close()
    if not answered(status, body):
        raise RuntimeError(f"{side.label}: tools/call answered {status}: {body[:500]!r}")
    return body


def idle_cpu_percent(service: Service, seconds: float) -> float:
    stats = TreeStats(service.process.pid)
    before = stats.cpu_seconds()
    time.sleep(seconds)
    return (stats.cpu_seconds() - before) / seconds * 100


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Options:
    duration: float = 5.0
    rounds: int = 3
    levels: tuple[int, ...] = (1, 16)
    peers: tuple[str, ...] = DEFAULT_VARIANTS
    warm: float = 1.0
    """Seconds of untimed calls on the connections of a run, before it."""
    out: Path | None = None
    check: bool = False


@dataclass
class Run:
    options: Options
    sides: list[Side] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def start_peer(variant: Variant, procs: Processes, echo_url: str) -> Side:
    if variant.peer is CONTEXTFORGE:
        return asyncio.run(contextforge_side(procs, echo_url, variant))
    return enkrypt_side(procs, echo_url, variant)


def prepare(result: Run, procs: Processes) -> None:
    echo = start_echo(procs, "s1")
    echo_url = f"http://127.0.0.1:{echo.port}/mcp"
    result.sides += [direct_side(echo), portcullis_side(procs, echo_url)]
    for name in result.options.peers:
        variant = VARIANTS[name]
        peer = variant.peer
        reason = install(peer)
        if reason is None:
            progress(f"starting {variant.label} {peer.version} ...")
            try:
                result.sides.append(start_peer(variant, procs, echo_url))
            except (RuntimeError, OSError, KeyError, StopIteration, subprocess.SubprocessError) as exc:
                reason = f"could not be configured here: {exc}"
        if reason is not None:
            result.skipped.append(f"{variant.label} {peer.version}: {reason}")
            progress(f"skipped {result.skipped[-1]}")
    for side in result.sides:
        side.upstream = echo
        asyncio.run(one_call(side))  # each side answers the echo before any load
        if side.process is not None:
            result.notes.append(f"{side.label} idle: {idle_cpu_percent(side.process, 2.0):.1f} % CPU")


def measure_all(result: Run) -> None:
    options = result.options
    for concurrency in options.levels:
        for round_index in range(options.rounds):
            shift = round_index % len(result.sides)
            order = result.sides[shift:] + result.sides[:shift]
            for side in order:
                measured = asyncio.run(measure(side, concurrency, options.duration, options.warm))
                load = measured.load
                where = f"c={concurrency} round {round_index + 1}: {side.label}"
                progress(
                    f"{where}: {cell(load.rps, 0)} calls/s, "
                    f"p50 {load.p50:.2f} ms, p99 {load.p99:.2f} ms, errors {load.errors}"
                )
                if measured.failure is not None:
                    result.notes.append(
                        f"{where}: {load.errors} of {load.requests} calls failed; the first answered "
                        f"`{measured.failure.decode(errors='replace')[:300]}`"
                    )
                if better(load, side.loads.get(concurrency)):
                    side.loads[concurrency], side.upstream_us[concurrency] = load, measured.upstream_us
                    side.log_bytes[concurrency] = measured.log_bytes


def answered_rps(load: Load) -> float:
    return (load.requests - load.errors) / load.seconds if load.seconds > 0 else 0.0


def better(load: Load, best: Load | None) -> bool:
    """The best run of a cell: the fastest without errors; failed calls count for nothing
    (a gateway that fails fast must not win a round by it)."""
    if best is None:
        return True
    if (load.errors == 0) != (best.errors == 0):
        return load.errors == 0
    return answered_rps(load) > answered_rps(best)


def cell(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if digits == 0 and 0 < value < 10:
        digits = 1  # a gateway that manages a call every few seconds is not at 0 or 1 calls/s
    return f"{value:,.0f}" if digits == 0 else f"{value:.{digits}f}"


def table(result: Run) -> str:
    options = result.options
    lines = [
        f"Best of {options.rounds} x {options.duration:g} s rounds per cell (the fastest without errors); "
        "`tools/call` of the echo tool; calls/s counts answered calls only.",
        "",
        "| side | c | calls/s | vs direct | p50 ms | p99 ms | gateway CPU µs/call | upstream CPU µs/call "
        "| gateway log B/call | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    direct = result.sides[0]
    for concurrency in options.levels:
        base = direct.loads.get(concurrency)
        for side in result.sides:
            load = side.loads.get(concurrency)
            if load is None:
                continue
            ratio = f"{answered_rps(load) / base.rps:.3f}" if base is not None and base.rps else "-"
            rps = cell(answered_rps(load), 0)
            lines.append(
                f"| {side.label} | {concurrency} | {rps} | {ratio} | {cell(load.p50)} | "
                f"{cell(load.p99)} | {cell(load.cpu_us, 0)} | {cell(side.upstream_us.get(concurrency), 0)} | "
                f"{cell(side.log_bytes.get(concurrency) if side.process else None, 0)} | {load.errors} |"
            )
    return "\n".join(lines)


def report(result: Run) -> str:
    parts = [
        "# Portcullis against peer gateways (`python -m bench.peers`)",
        "",
        f"Machine: {machine()}.",
        "",
        table(result),
        "",
        "Configuration of each side:",
        "",
    ]
    parts += [f"- {side.label}: {side.config or 'the echo server itself'}" for side in result.sides]
    versions = [f"{peer.label} {peer.version} (`{peer.package}`)" for peer in PEERS.values()]
    parts += ["", "Versions: " + "; ".join(versions) + "."]
    for side in result.sides:
        peaks = [load.peak_mb for load in side.loads.values() if load.peak_mb is not None]
        if peaks:
            result.notes.append(f"{side.label} peak RSS over its best runs: {max(peaks):.0f} MB")
    if result.skipped:
        parts += ["", "Not measured:", "", *[f"- {text}" for text in result.skipped]]
    parts += ["", "Notes:", "", *[f"- {text}" for text in result.notes]]
    return "\n".join(parts) + "\n"


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per timed run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per concurrency; the best is kept")
    parser.add_argument("--levels", default="1,16", help="concurrency levels, comma-separated")
    parser.add_argument(
        "--peers", default=",".join(DEFAULT_VARIANTS), help=f"which peers, of: {', '.join(VARIANTS)}"
    )
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    parser.add_argument("--smoke", action="store_true", help="one 1 s round per level")
    parser.add_argument("--check", action="store_true", help="start every side, one call each, no load")
    args = parser.parse_args(argv)
    peers = tuple(name for name in args.peers.split(",") if name)
    unknown = [name for name in peers if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown peers: {', '.join(unknown)}")
    options = Options(args.duration, args.rounds, tuple(int(c) for c in args.levels.split(",")), peers)
    if args.smoke:
        options.duration, options.rounds, options.warm = 1.0, 1, 0.3
    options.out, options.check = args.out, args.check
    return options


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    result = Run(options)
    load_before = loadavg()
    started = time.monotonic()
    with Processes() as procs:
        prepare(result, procs)
        if options.check:
            for side in result.sides:
                print(f"{side.label}: answers on port {side.port}, {side.path}: {side.config}")
            print("\n".join([*result.skipped, *result.notes]))
            return 0
        measure_all(result)
    result.notes.insert(
        0, f"load average {load_before} before, {loadavg()} after; {time.monotonic() - started:.0f} s"
    )
    text = report(result)
    print(text)
    if options.out is not None:
        options.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
