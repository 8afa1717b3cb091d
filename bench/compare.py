"""A/B of gateway checkouts: what a change to the gateway buys, measured side by side.

Each checkout (a directory holding ``gateway/``, ``middleware/``, ``upstream/``) runs its own
gateway, configured as deployed, in front of the same three echo upstreams (b). Every figure
alternates between the checkouts (and the upstream direct), round by round, order reversed
every other round, so drift hits all alike:

- tools/call at c=1: Python probe, call by call; added p50 / p99 over direct;
- tools/call at c=32 and tools/list (three servers) at c=32: wrk (or the Python load
  generator), req/s, p99, gateway CPU per request;
- a 10 MB tools/call relayed one at a time: gateway CPU per call and peak RSS growth.

Run: ``.venv/bin/python -m bench compare BEFORE_DIR AFTER_DIR [--duration 4] [--rounds 2]``
(``git worktree add /tmp/before HEAD`` makes a BEFORE_DIR from the last commit).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import probes
from bench.harness import (
    Endpoint,
    GatewayConfig,
    HttpConnection,
    Load,
    Processes,
    Service,
    Window,
    http_load,
    loadavg,
    machine,
    mcp_headers,
    open_session,
    request_body,
    request_tail,
    start_echo,
    start_gateway,
    wrk_path,
)

DEPLOYED = GatewayConfig("auth on, default stack, access log at info to a file")
CALL = request_tail("tools/call", {"name": "s1__echo", "arguments": probes.ECHO_ARGUMENTS})
DIRECT_CALL = request_tail("tools/call", {"name": "echo", "arguments": probes.ECHO_ARGUMENTS})
LIST = request_tail("tools/list", {})


def _merge(loads: Sequence[Load]) -> Load:
    from bench.run import merge

    return merge(loads)


async def big_calls(gateway: Service, endpoint: Endpoint, size: int, calls: int) -> tuple[float, float]:
    """CPU ms per 10 MB call and peak RSS growth (x payload), one call at a time."""
    big = request_tail("tools/call", {"name": "s1__big", "arguments": {"size": size}})
    connection = await HttpConnection.open(endpoint.port, endpoint.path, mcp_headers(endpoint.auth))
    try:
        session = await open_session(connection)
        await connection.post(request_body(1, CALL), session)
        async with Window(gateway.stats) as window:
            for i in range(calls):
                status, _, body = await connection.post(request_body(10 + i, big), session)
                if status != 200 or len(body) < size:
                    raise RuntimeError(f"10 MB call failed: {status} {body[:200]!r}")
        return window.cpu / calls * 1000, (window.peak - window.rss_before) * 1024 * 1024 / size
    finally:
        connection.close()


async def compare(options: argparse.Namespace) -> str:
    roots: list[Path] = options.roots
    use_wrk = wrk_path() is not None and not options.python_load
    with Processes() as procs:
        upstreams = [start_echo(procs, name, wait=False, sse=options.sse) for name in ("s1", "s2", "s3")]
        for upstream in upstreams:
            upstream.ready()
        servers = {
            u.name.removeprefix("echo-"): {"url": f"http://127.0.0.1:{u.port}/mcp", "start": "eager"}
            for u in upstreams
        }
        gateways = [
            start_gateway(procs, f"ab{i}", DEPLOYED, servers, root=root, wait=False)
            for i, root in enumerate(roots)
        ]
        for gateway in gateways:
            gateway.ready()
        endpoints = [Endpoint(f"ab{i}", g.port, auth=True) for i, g in enumerate(gateways)]
        direct = Endpoint("direct", upstreams[0].port)

        async with contextlib.AsyncExitStack() as stack:
            calls = [await stack.enter_async_context(probes.raw_http(direct, DIRECT_CALL))]
            for endpoint in endpoints:
                calls.append(await stack.enter_async_context(probes.raw_http(endpoint, CALL)))
            probe = await probes.alternate(calls, options.probe_calls, 50)

        results: dict[str, list[list[Load]]] = {"call": [[] for _ in roots], "list": [[] for _ in roots]}
        big: list[list[tuple[float, float]]] = [[] for _ in roots]
        for round_index in range(options.rounds):
            order = list(range(len(roots)))
            if round_index % 2:
                order.reverse()
            for workload, tail in (("call", CALL), ("list", LIST)):
                for i in order:
                    load = await http_load(
                        endpoints[i],
                        tail,
                        options.concurrency,
                        options.duration,
                        use_wrk=use_wrk,
                        window=Window(gateways[i].stats),
                    )
                    results[workload][i].append(load)
            if options.big_calls:
                for i in order:
                    big[i].append(
                        await big_calls(gateways[i], endpoints[i], options.big_bytes, options.big_calls)
                    )

    lines = [
        "# Gateway A/B",
        "",
        f"- machine: {machine()}; load average {loadavg()}",
        f"- gateway configured as deployed ({DEPLOYED.label}); upstream: three echo servers (b)"
        f"{', answering in SSE' if options.sse else ''}",
        f"- c=1: {options.probe_calls} calls per side, alternating; c={options.concurrency}: "
        f"{'wrk' if use_wrk else 'Python load generator'}, {options.rounds} rounds of {options.duration:g} s",
        "",
        f"| checkout | c=1 added p50 / p99 ms | call c={options.concurrency} req/s | p99 ms | CPU µs/req "
        f"| list c={options.concurrency} req/s | p99 ms | CPU µs/req | 10 MB CPU ms/call "
        "| 10 MB peak growth |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, root in enumerate(roots):
        call, listing = _merge(results["call"][i]), _merge(results["list"][i])
        added = f"{probe[i + 1].p50 - probe[0].p50:+.3f} / {probe[i + 1].p99 - probe[0].p99:+.3f}"
        if big[i]:
            cpu_ms = sum(b[0] for b in big[i]) / len(big[i])
            growth = f"{max(b[1] for b in big[i]):.2f}x"
            big_cells = f"{cpu_ms:.1f} | {growth}"
        else:
            big_cells = "- | -"
        lines.append(
            f"| {root} | {added} | {call.rps:,.0f} | {call.p99:.1f} | {call.cpu_us or 0:.0f} "
            f"| {listing.rps:,.0f} | {listing.p99:.1f} | {listing.cpu_us or 0:.0f} | {big_cells} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("roots", nargs="+", help="gateway checkouts to compare")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per load cell (default 4)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--probe-calls", type=int, default=1000)
    parser.add_argument("--big-bytes", type=int, default=10_000_000)
    parser.add_argument("--big-calls", type=int, default=5, help="10 MB calls per round (0: skip)")
    parser.add_argument("--python-load", action="store_true", help="the Python load generator, not wrk")
    parser.add_argument(
        "--sse", action="store_true", help="the echo upstreams answer in SSE, as SDK servers do"
    )
    options = parser.parse_args(argv)
    options.roots = [Path(root).resolve() for root in options.roots]
    print(asyncio.run(compare(options)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
