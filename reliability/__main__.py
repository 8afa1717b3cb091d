"""``python -m reliability [all|fuzz|kill|hang|clients|soak] [--smoke] [--minutes N] ...``

Runs the parts against one real gateway (a subprocess, with the suite's own upstreams), prints a
table per part and writes every figure to a JSON file. Exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from bench.harness import loadavg, machine
from reliability import clients, fuzz, hangs, kills, soak
from reliability.lab import lab
from reliability.report import Part, render

PARTS = ("fuzz", "kill", "hang", "clients", "soak")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__.split("\n\n")[1])
    parser.add_argument("part", nargs="?", default="all", choices=("all", *PARTS))
    parser.add_argument("--smoke", action="store_true", help="a tiny run of everything (< 60 s)")
    parser.add_argument("--inputs", type=int, help="fuzz inputs (default 100,000; smoke 1,500)")
    parser.add_argument("--kills", type=int, help="upstream kills (default 1,000; smoke 20)")
    parser.add_argument("--minutes", type=float, help="soak minutes (default 30; smoke 0.2)")
    parser.add_argument("--seed", type=int, default=1, help="fuzz seed (a run is reproducible)")
    parser.add_argument("--json", type=Path, default=Path("reliability-report.json"), help="figures file")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> list[Part]:
    smoke = args.smoke
    chosen = PARTS if args.part == "all" else (args.part,)
    parts = []
    with lab() as running:
        for name in chosen:
            print(f"... {name}", file=sys.stderr, flush=True)
            if name == "fuzz":
                inputs = args.inputs or (1_500 if smoke else 100_000)
                parts.append(await fuzz.part(running, inputs, args.seed, 200 if smoke else 3_000))
            elif name == "kill":
                parts.append(await kills.run(running, args.kills or (20 if smoke else 1_000)))
                parts.append(await kills.run(running, 2 if smoke else 20, "holder"))
            elif name == "hang":
                parts.append(await hangs.run(running, 1 if smoke else 5))
            elif name == "clients":
                parts.append(await clients.run(running, 20 if smoke else 500, 2 if smoke else 20))
            else:
                minutes = args.minutes if args.minutes is not None else (0.2 if smoke else 30.0)
                parts.append(await soak.run(running, minutes))
    return parts


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    started = time.monotonic()
    parts = asyncio.run(run(args))
    took = time.monotonic() - started
    print(f"# Portcullis reliability{' (smoke)' if args.smoke else ''}\n")
    print(f"{machine()}; load average {loadavg()}; {took:.0f} s")
    print(render(parts))
    document = {"smoke": args.smoke, "seconds": round(took, 1), "parts": {p.name: p.as_dict() for p in parts}}
    args.json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    print(f"figures: {args.json}")
    return 0 if all(part.passed for part in parts) else 1


if __name__ == "__main__":
    sys.exit(main())
