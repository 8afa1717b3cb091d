"""Part (b): an upstream killed mid-call, over and over.

Each round: ask the upstream its pid (and its child's, if it has one), put a slow call in flight
from a legacy and a 2026-07-28 client, SIGKILL the upstream, and time how long each call takes
to fail. ``victim`` is a plain upstream; ``holder`` has a child that inherited its stdout, so
its pipe stays open after the kill, as with a server that starts helpers.
Then the upstream and its child must be gone (no orphans), and at the end the
gateway's process tree must hold no more than it started with, and its RSS must be flat.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from typing import Any

from reliability.lab import Client, Lab, alive, clients, descendants, ok, text, wait_for
from reliability.report import Part

ERROR_WITHIN = 1.0


async def victim_pids(probe: Client, server: str) -> tuple[int, int]:
    """The victim's pid and its child's, once it answers again (it restarts after a kill)."""
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(ConnectionError, RuntimeError):
            answer = await probe.call(f"{server}__pid", {})
            if ok(answer):
                pid, child = text(answer).split()
                return int(pid), int(child)
        if time.monotonic() > deadline:
            raise RuntimeError("the victim upstream did not come back within 10 s")
        await asyncio.sleep(0.02)


async def timed_call(client: Client, server: str) -> tuple[float, Any]:
    try:
        answer = await client.call(f"{server}__slow", {"seconds": 30})
    except (ConnectionError, RuntimeError) as exc:
        answer = {"exception": repr(exc)}
    return time.monotonic(), answer


async def run(lab: Lab, kills: int, server: str = "victim") -> Part:
    """``victim`` is a plain upstream; ``holder`` has a child that keeps its stdout open."""
    label = "" if server == "victim" else ", its child holding its stdout"
    part = Part(f"(b) upstream killed mid-call{label}")
    started_log = lab.log_path(server, "started")
    worst, late, orphans, rss = 0.0, 0, 0, [lab.rss_mb()]
    wrong: list[str] = []
    tree_before = descendants(lab.pid)
    async with clients(lab.port, "legacy", "legacy", "modern") as (probe, legacy, modern):
        await victim_pids(probe, server)
        tree_before = descendants(lab.pid)
        for _ in range(kills):
            pid, child = await victim_pids(probe, server)
            before = started_log.stat().st_size if started_log.exists() else 0
            calls = [asyncio.create_task(timed_call(c, server)) for c in (legacy, modern)]
            await wait_for(lambda: started_log.exists() and started_log.stat().st_size >= before + 2, 5)  # noqa: B023
            killed_at = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            for ended, answer in await asyncio.gather(*calls):
                worst = max(worst, ended - killed_at)
                late += ended - killed_at > ERROR_WITHIN
                fault = (answer.get("error") or {}).get("data", {}).get("fault")
                if fault != "upstream" and len(wrong) < 3:
                    wrong.append(repr(answer)[:300])
            if not await wait_for(lambda: not alive(pid) and not alive(child), 2.0):  # noqa: B023
                orphans += 1
        rss.append(lab.rss_mb())
        await victim_pids(probe, server)
    tree_after = descendants(lab.pid)
    part.figures = {
        "kills": kills,
        "slowest error after the kill, s": round(worst, 3),
        "calls later than 1 s": late,
        "errors not blamed on the upstream": wrong,
        "upstream or child still alive 2 s after the kill": orphans,
        "gateway processes below it, before / after": [len(tree_before), len(tree_after)],
        "gateway RSS MB, first / last": [round(rss[0], 1), round(rss[-1], 1)],
    }
    part.checks = {
        "gateway alive": lab.alive(),
        "every in-flight call errors within 1 s": late == 0,
        "every error says fault = upstream": not wrong,
        "no orphan processes": orphans == 0 and len(tree_after) <= len(tree_before),
        "RSS flat (last < first + 20 MB)": rss[-1] < rss[0] + 20,
    }
    return part
