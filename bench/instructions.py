"""Instructions per request, counted by callgrind: a repeatable A/B of gateway checkouts.

Wall-clock load tests on a shared 2-core machine drift by ±10 % between runs; the number of
machine instructions one request costs does not (it moves by well under 1 %). Each checkout runs
in process (:mod:`bench.inproc_driver`: the checkout's own ``Gateway`` and ASGI app, no HTTP
server, no load generator) under ``valgrind --tool=callgrind`` in front of the same three echo
upstreams; only the measured requests are counted (the counters are zeroed after the warm-up
and dumped before shutdown). Stacks: ``default`` (the checkout's own built-in stack, limits
included), ``empty`` (``middleware = []``: the bare proxy), ``plugins-none`` (the default stack
and a plugin file with no plugin), ``plugins-noop`` (one plugin that changes nothing, on
``tool_pre_invoke`` and ``tool_post_invoke``) and ``guardrails-balanced`` (the default stack with
the built-in guardrails' balanced preset). A checkout that has the built-in guardrails runs every
other stack with them off, so an A/B against an older checkout compares the same proxy.

Run: ``.venv/bin/python -m bench instructions BEFORE_DIR AFTER_DIR [--stack default empty]
[--calls 1000] [--workload call]`` (needs valgrind: ``bash bench/setup.sh``). About a minute per
checkout and stack; two run at once.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.harness import BENCH, PYTHON, Processes, start_echo

STACKS = {
    "default": "",
    "empty": "middleware = []\n",
    "plugins-none": "",
    "plugins-noop": "",
    "guardrails-balanced": "",
}
PRESETS = {"guardrails-balanced": "balanced"}
"""Stacks run with a guardrail preset; every other stack runs with the guardrails off (the proxy
as it was before they existed), in a checkout that has them."""
PLUGIN_FILES = {
    "plugins-none": "plugins: []\n",
    "plugins-noop": (
        "plugins:\n  - name: noop\n    kind: bench.noop_plugin.NoOp\n"
        "    hooks: [tool_pre_invoke, tool_post_invoke]\n"
    ),
}
"""The default stack with a plugin file: none in it (the framework's fixed cost), or one plugin
that changes nothing on the two tool hooks."""


def settings_text(stack: str, upstreams: dict[str, int], work: Path, root: Path) -> str:
    lines = [STACKS[stack] + "[auth]", "enabled = true", "[logging]", 'level = "info"']
    if (root / "gateway" / "guardrails.py").exists():
        lines += ["[guardrails]", f'preset = "{PRESETS.get(stack, "off")}"', 'store = "memory"']
    if stack in PLUGIN_FILES:
        plugin_file = work / f"{stack}.yaml"
        plugin_file.write_text(PLUGIN_FILES[stack])
        lines += ["[plugins]", f'config = "{plugin_file}"']
    for name, port in upstreams.items():
        lines += [f"[servers.{name}]", f'url = "http://127.0.0.1:{port}/mcp"', 'start = "eager"']
    return "\n".join(lines) + "\n"


def wait_for(path: Path, process: subprocess.Popen[bytes], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise RuntimeError(f"the driver exited ({process.returncode}) before {path.name}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {path.name} within {timeout:g} s")
        time.sleep(0.2)


def count(root: Path, settings: Path, work: Path, calls: int, workload: str) -> int:
    """Instructions for ``calls`` requests through the checkout at ``root``."""
    work.mkdir(parents=True)
    out = work / "callgrind.out"
    argv = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
        PYTHON, str(BENCH / "inproc_driver.py"), str(settings), str(work),
        "--calls", str(calls), "--workload", workload,
    ]  # fmt: skip
    with (work / "driver.log").open("wb") as log:
        env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
        try:
            wait_for(work / "ready", process)
            subprocess.run(["callgrind_control", "--zero", str(process.pid)], check=True, capture_output=True)
            (work / "go").touch()
            wait_for(work / "done", process)
            subprocess.run(["callgrind_control", "--dump", str(process.pid)], check=True, capture_output=True)
            (work / "go2").touch()
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    dumps = sorted(work.glob("callgrind.out.*.1"))
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump; see {work / 'driver.log'}")
    for line in dumps[0].read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dumps[0]}")


async def measure_all(
    roots: Sequence[Path], stacks: Sequence[str], calls: int, workload: str, work: Path
) -> dict[tuple[Path, str], int]:
    """Two at a time (the machine has two cores); each count is independent of the load."""
    upstreams: dict[str, int] = {}
    results: dict[tuple[Path, str], int] = {}
    with Processes() as procs:
        for name in ("s1", "s2", "s3"):
            upstreams[name] = start_echo(procs, name).port
        jobs = []
        for stack in stacks:
            for index, root in enumerate(roots):
                settings = work / f"{stack}-{index}.toml"
                settings.write_text(settings_text(stack, upstreams, work, root))
                jobs.append((root, stack, settings))
        limit = asyncio.Semaphore(2)

        async def one(index: int, root: Path, stack: str, settings: Path) -> None:
            async with limit:
                job_dir = work / f"job{index}"
                results[root, stack] = await asyncio.to_thread(
                    count, root, settings, job_dir, calls, workload
                )

        await asyncio.gather(*(one(i, *job) for i, job in enumerate(jobs)))
    return results


def report(
    roots: Sequence[Path], stacks: Sequence[str], results: dict[tuple[Path, str], int], calls: int
) -> str:
    lines = ["| checkout | " + " | ".join(f"{stack} stack, instructions/request" for stack in stacks) + " |"]
    lines.append("|---|" + "---|" * len(stacks))
    first = roots[0]
    for root in roots:
        cells = []
        for stack in stacks:
            value = results[root, stack] / calls
            base = results[first, stack] / calls
            change = "" if root == first else f" ({(value - base) / base:+.1%})"
            cells.append(f"{value:,.0f}{change}")
        lines.append(f"| {root} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench instructions", description=__doc__)
    parser.add_argument("roots", nargs="+", type=Path, help="gateway checkouts to compare")
    parser.add_argument("--stack", nargs="+", choices=sorted(STACKS), default=["default", "empty"])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--workload", choices=["call", "list"], default="call")
    options = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed: run `bash bench/setup.sh`", file=sys.stderr)
        return 2
    roots = [root.resolve() for root in options.roots]
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as work:
        results = asyncio.run(measure_all(roots, options.stack, options.calls, options.workload, Path(work)))
    print(f"{options.workload}: {options.calls} requests per checkout, legacy session, three echo upstreams")
    print()
    print(report(roots, options.stack, results, options.calls))
    return 0
