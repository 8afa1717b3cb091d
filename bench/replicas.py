"""What shared state costs: ``tools/call`` at c=32 through a gateway whose sessions, events and
the rest live in Redis (``[redis] url``), against the same gateway keeping them in memory, and
the Redis commands each call makes (``INFO commandstats`` before and after the load).

Run ``.venv/bin/python -m bench.replicas [--duration 5] [--rounds 4]`` (``--smoke``: one short
round). The issue's budget: within 15 % of in-memory state, at most one round trip per call of
an established session.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import redis

from bench import probes
from bench.harness import (
    Endpoint,
    GatewayConfig,
    Load,
    Processes,
    Window,
    http_load,
    loadavg,
    machine,
    request_tail,
    start_echo,
    start_gateway,
    wrk_path,
)
from tests.test_mrtr_replicas import redis_server


def commands(url: str) -> dict[str, int]:
    """Calls of each Redis command so far."""
    stats = redis.Redis.from_url(url).info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


async def under_load(url: str, duration: float, rounds: int, concurrency: int) -> list[str]:
    use_wrk = wrk_path() is not None
    call = request_tail("tools/call", {"name": "s1__echo", "arguments": probes.ECHO_ARGUMENTS})
    with Processes() as procs:
        upstream = start_echo(procs, "echo-s1")
        servers = {"s1": {"url": f"http://127.0.0.1:{upstream.port}/mcp", "start": "eager"}}
        memory = start_gateway(procs, "memory", GatewayConfig("memory"), servers, wait=False)
        shared = start_gateway(
            procs, "redis", GatewayConfig("redis", extra=f'[redis]\nurl = "{url}"\n'), servers, wait=False
        )
        memory.ready()
        shared.ready()
        sides = [
            ("state in memory", memory, Endpoint("memory", memory.port, auth=True)),
            ("state in Redis", shared, Endpoint("redis", shared.port, auth=True)),
        ]
        loads: dict[str, list[Load]] = {label: [] for label, _, _ in sides}
        redis_calls = 0
        before = commands(url)
        for round_index in range(rounds):
            order = sides if round_index % 2 == 0 else list(reversed(sides))
            for label, gateway, endpoint in order:
                load = await http_load(
                    endpoint, call, concurrency, duration, use_wrk=use_wrk, window=Window(gateway.stats)
                )
                if load.errors:
                    raise RuntimeError(f"{label}: {load.errors} failed requests; see {gateway.log()[-2000:]}")
                loads[label].append(load)
                if label == "state in Redis":
                    redis_calls += load.requests
        after = commands(url)
    return report(
        sides,
        loads,
        redis_calls=redis_calls,
        before=before,
        after=after,
        concurrency=concurrency,
        rounds=rounds,
        duration=duration,
        use_wrk=use_wrk,
    )


def report(
    sides: list[tuple[str, object, Endpoint]],
    loads: dict[str, list[Load]],
    *,
    redis_calls: int,
    before: dict[str, int],
    after: dict[str, int],
    concurrency: int,
    rounds: int,
    duration: float,
    use_wrk: bool,
) -> list[str]:
    from bench.run import merge

    lines = [
        f"| state | req/s at c={concurrency} | p99 ms | gateway CPU µs/req |",
        "|---|---|---|---|",
    ]
    rates = []
    for label, _, _ in sides:
        merged = merge(loads[label])
        rates.append(merged.rps)
        lines.append(f"| {label} | {merged.rps:,.0f} | {merged.p99:.1f} | {merged.cpu_us or 0:.0f} |")
    used = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    per_call = ", ".join(f"{name} {count / max(1, redis_calls):.2f}" for name, count in sorted(used.items()))
    lines += [
        "",
        f"Redis / memory throughput: {rates[1] / rates[0] * 100:.1f} % (budget: >= 85 %)",
        f"Redis commands per call (pipelined: one round trip): {per_call}",
        f"load generator: {'wrk' if use_wrk else 'Python'}; {rounds} rounds of {duration:g} s, alternating",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="one short round, to see it runs")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=4)
    options = parser.parse_args(argv)
    duration, rounds = (1.0, 1) if options.smoke else (options.duration, options.rounds)
    print("# Shared state: cost\n")
    print(f"- machine: {machine()}; load average {loadavg()}\n")
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as url:
        print("\n".join(asyncio.run(under_load(url, duration, rounds, 32))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
