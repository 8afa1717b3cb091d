"""Profile the gateway's hot path under load: py-spy samples the gateway process while wrk (or
the Python load generator) drives ``tools/call`` through it at concurrency 32 over the echo
upstream (b), with the gateway configured as deployed (API key, default stack, access log at
info to a file).

Prints the top functions by self time and by cumulative time, and self time per package, from
py-spy's collapsed stacks (``--function``: one entry per function, not per line). Time spent in
C (uvloop's loop, socket I/O, parsers) shows as self time of the innermost Python frame above it,
e.g. ``Runner.run`` for the event loop itself.

Run: ``.venv/bin/python -m bench profile [--seconds 15] [--concurrency 32] [--out DIR]``
(needs py-spy: ``bash bench/setup.sh``). The raw stacks are kept in DIR for a flame graph
(``flamegraph.pl``, speedscope's "collapsed" import).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.harness import (
    PYTHON,
    ROOT,
    Endpoint,
    GatewayConfig,
    Processes,
    Window,
    http_load,
    loadavg,
    machine,
    request_tail,
    sdk_stdio_argv,
    start_echo,
    start_gateway,
    start_sdk_http,
    wrk_path,
)

DEPLOYED = GatewayConfig("auth on, default stack, access log at info to a file")
LEAN = GatewayConfig("auth off, stack empty, log level warning", auth=False, stack=(), log_level="warning")
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    local = Path(PYTHON).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append((stack.split(";"), int(count)))
    return stacks


def short(frame: str) -> str:
    """``function (path/to/site-packages/pkg/mod.py:12)`` -> ``function (pkg/mod.py)``."""
    match = FRAME.match(frame)
    if match is None:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['function']} ({path})"


def package(frame: str) -> str:
    match = FRAME.match(short(frame))
    path = match["file"] if match else frame
    top = path.split("/", 1)[0]
    if top.endswith(".py"):
        return top[:-3]  # a stdlib module (asyncio is a package, logging too)
    return top


def analyse(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(count for _, count in stacks)
    if not total:
        return "no samples (is the gateway busy? is py-spy allowed to ptrace it?)"
    self_time: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, count in stacks:
        names = [short(f) for f in frames]
        self_time[names[-1]] += count
        packages[package(frames[-1])] += count
        for name in set(names):
            cumulative[name] += count

    def table(title: str, counter: Counter[str]) -> list[str]:
        rows = [f"{title} (% of {total} busy samples)", "| % | function |", "|---|---|"]
        rows += [f"| {count / total:6.1%} | {name} |" for name, count in counter.most_common(top)]
        return rows

    lines = [*table("Top by self time", self_time), ""]
    lines += [*table("Top by cumulative time", cumulative), ""]
    lines += ["Self time by package or module", "| % | package |", "|---|---|"]
    lines += [f"| {count / total:6.1%} | {name} |" for name, count in packages.most_common(20)]
    return "\n".join(lines)


async def profile(options: argparse.Namespace) -> str:
    spy = py_spy()
    if spy is None:
        raise SystemExit("bench profile: py-spy is not installed; run bash bench/setup.sh")
    out: Path = options.out
    config = LEAN if options.lean else DEPLOYED
    use_wrk = wrk_path() is not None and not options.python_load
    with Processes() as procs:
        names = ("s1", "s2", "s3") if options.workload == "list" else ("s1",)
        if options.upstream == "sdk-stdio":
            servers = {n: {"command": PYTHON, "args": sdk_stdio_argv(n)[1:], "start": "eager"} for n in names}
        else:
            start = start_echo if options.upstream == "echo" else start_sdk_http
            upstreams = [start(procs, name) for name in names]
            servers = {
                n: {"url": f"http://127.0.0.1:{u.port}/mcp", "start": "eager"}
                for n, u in zip(names, upstreams, strict=True)
            }
        gateway = start_gateway(procs, "profiled", config, servers, root=options.root)
        endpoint = Endpoint("gateway", gateway.port, auth=config.auth, era=options.era)
        tail = {
            "call": request_tail(
                "tools/call", {"name": "s1__echo", "arguments": {"text": "hello"}}, options.era
            ),
            "list": request_tail("tools/list", {}, options.era),
            "big": request_tail(
                "tools/call", {"name": "s1__big", "arguments": {"size": options.big_bytes}}, options.era
            ),
        }[options.workload]
        await http_load(endpoint, tail, 2, 1.0, use_wrk=False)  # warm
        # Unprofiled first, then the same load while py-spy samples: what sampling costs shows.
        plain = await http_load(
            endpoint,
            tail,
            options.concurrency,
            options.seconds,
            use_wrk=use_wrk,
            window=Window(gateway.stats),
        )
        raw = out / "gateway.collapsed.txt"
        argv = [spy, "record", "--pid", str(gateway.process.pid), "--duration", str(options.seconds)]
        argv += ["--rate", str(options.rate), "--format", "raw", "--function", "--output", str(raw)]
        if options.nonblocking:
            argv.append("--nonblocking")
        if options.native:
            argv.append("--native")
        load_task = asyncio.create_task(
            http_load(
                endpoint,
                tail,
                options.concurrency,
                options.seconds + 2,
                use_wrk=use_wrk,
                window=Window(gateway.stats),
            )
        )
        await asyncio.sleep(1.0)
        spy_process = await asyncio.create_subprocess_exec(
            *argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, err = await spy_process.communicate()
        sampled = await load_task
        if spy_process.returncode != 0 or not raw.exists():
            raise SystemExit(f"py-spy failed ({spy_process.returncode}): {err.decode()[-2000:]}")
    report = [
        "# Gateway profile",
        "",
        f"- machine: {machine()}; load average {loadavg()}",
        f"- gateway: {config.label}; upstream: {options.upstream}; {options.workload} "
        f"at c={options.concurrency}, "
        f"{'wrk' if use_wrk else 'Python load generator'}",
        f"- without profiler: {plain.rps:,.0f} req/s, gateway CPU {plain.cpu_us or 0:.0f} µs/req, "
        f"p50 {plain.p50:.3f} ms, p99 {plain.p99:.3f} ms, errors {plain.errors}",
        f"- while sampled ({options.rate} Hz, {'non-blocking' if options.nonblocking else 'blocking'}): "
        f"{sampled.rps:,.0f} req/s, gateway CPU "
        f"{sampled.cpu_us or 0:.0f} µs/req",
        f"- raw stacks: {raw}",
        "",
        analyse(parse_collapsed(raw.read_text()), options.top),
    ]
    text = "\n".join(report) + "\n"
    (out / "profile.md").write_text(text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=int, default=15, help="sampling time (default 15)")
    parser.add_argument("--rate", type=int, default=100, help="samples per second (default 100)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workload", choices=("call", "list", "big"), default="call")
    parser.add_argument(
        "--era", choices=("legacy", "modern"), default="legacy", help="the client's protocol era"
    )
    parser.add_argument("--upstream", choices=("echo", "sdk-http", "sdk-stdio"), default="echo")
    parser.add_argument("--big-bytes", type=int, default=10_000_000, help="result size of the big workload")
    parser.add_argument("--top", type=int, default=30, help="rows per table (default 30)")
    parser.add_argument("--native", action="store_true", help="include C frames (slower sampling)")
    parser.add_argument(
        "--nonblocking",
        action="store_true",
        help="sample without pausing the gateway (cheaper, but stacks come out torn under uvloop)",
    )
    parser.add_argument("--lean", action="store_true", help="profile auth off, empty stack, log warning")
    parser.add_argument("--python-load", action="store_true", help="the Python load generator, not wrk")
    parser.add_argument("--root", type=Path, default=ROOT, help="run the gateway from this checkout")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="where stacks and report go")
    options = parser.parse_args(argv)
    options.root = options.root.resolve()
    options.out.mkdir(parents=True, exist_ok=True)
    text = asyncio.run(profile(options))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
