"""Part (c): hung upstreams. A tool that never answers must end in the Timeouts middleware's
error within ±100 ms of its setting, and the upstream must be told ``notifications/cancelled``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from middleware.protocol import REQUEST_TIMEOUT
from reliability.lab import TOOL_TIMEOUT, Client, Lab, clients, wait_for
from reliability.report import Part

TOLERANCE = 0.1


async def hung_call(client: Client) -> tuple[float, Any]:
    started = time.monotonic()
    answer = await client.call("up__hang", {})
    return time.monotonic() - started, answer


def cancellations(lab: Lab) -> int:
    path = lab.log_path("up", "cancelled")
    return len(path.read_text().splitlines()) if path.exists() else 0


async def run(lab: Lab, rounds: int) -> Part:
    part = Part("(c) hung upstream")
    elapsed: list[float] = []
    wrong: list[str] = []
    uncancelled = 0
    async with clients(lab.port, "legacy", "modern") as pair:
        for _ in range(rounds):
            before = cancellations(lab)
            for seconds, answer in await asyncio.gather(*(hung_call(c) for c in pair)):
                elapsed.append(seconds)
                error = answer.get("error") or {}
                if error.get("code") != REQUEST_TIMEOUT or error.get("data", {}).get("fault") != "upstream":
                    wrong.append(repr(answer)[:300])
            if not await wait_for(lambda: cancellations(lab) >= before + len(pair), 2.0):  # noqa: B023
                uncancelled += before + len(pair) - cancellations(lab)
    deviation = max(abs(seconds - TOOL_TIMEOUT) for seconds in elapsed)
    part.figures = {
        "hung calls": len(elapsed),
        "timeout setting, s": TOOL_TIMEOUT,
        "answered after, s (min / max)": [round(min(elapsed), 3), round(max(elapsed), 3)],
        "largest deviation, ms": round(deviation * 1000, 1),
        "wrong answers": wrong[:3],
        "calls the upstream was not told were cancelled": uncancelled,
    }
    part.checks = {
        "timeout fires within ±100 ms": deviation <= TOLERANCE,
        "timeout error (-32001) with fault = upstream": not wrong,
        "upstream gets notifications/cancelled": uncancelled == 0,
    }
    return part
