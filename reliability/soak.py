"""Part (e): a soak. Steady mixed load (tools/call, tools/list, resources/read) from clients
of both eras for a number of minutes, with requests, errors and the gateway's RSS per interval
(a minute, or a quarter of a shorter run): errors must stay at zero and RSS must not drift."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.harness import Era
from reliability.lab import Client, Lab, clients, messages
from reliability.report import Part

OPERATIONS: list[tuple[str, dict[str, Any]]] = [
    ("tools/call", {"name": "up__echo", "arguments": {"text": "soak"}}),
    ("tools/list", {}),
    ("resources/read", {"uri": "rel://up/info"}),
]


async def drive(client: Client, until: float, counts: dict[str, int], errors: list[str]) -> None:
    index = 0
    while time.monotonic() < until:
        method, params = OPERATIONS[index % len(OPERATIONS)]
        index += 1
        try:
            status, headers, body = await client.request(method, params)
            found = messages(headers, body)
            failed = status != 200 or any(
                "error" in m or (m.get("result") or {}).get("isError") for m in found
            )
        except (ConnectionError, ValueError) as exc:
            failed, body = True, repr(exc).encode()
        counts["requests"] += 1
        if failed:
            counts["errors"] += 1
            if len(errors) < 3:
                errors.append(f"{method}: {body[:300]!r}")


async def run(lab: Lab, minutes: float, concurrency: int = 8) -> Part:
    part = Part("(e) soak")
    seconds = minutes * 60
    interval = min(60.0, seconds / 4)
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    start_rss = lab.rss_mb()
    eras: list[Era] = ["legacy", "modern"] * (concurrency // 2)
    async with clients(lab.port, *eras) as made:
        started = time.monotonic()
        while time.monotonic() - started < seconds - 0.01:
            counts = {"requests": 0, "errors": 0}
            until = min(time.monotonic() + interval, started + seconds)
            await asyncio.gather(*(drive(client, until, counts, errors) for client in made))
            rows.append({**counts, "rss_mb": round(lab.rss_mb(), 1)})
    drift = rows[-1]["rss_mb"] - rows[0]["rss_mb"] if rows else 0.0
    part.figures = {
        "minutes": minutes,
        "clients (half of each era)": concurrency,
        "requests": sum(row["requests"] for row in rows),
        "requests per second": round(sum(row["requests"] for row in rows) / seconds),
        "errors": sum(row["errors"] for row in rows),
        "RSS MB at start": round(start_rss, 1),
        "RSS drift MB (last interval - first)": round(drift, 1),
        "per interval": rows,
        "first errors": errors,
    }
    part.checks = {
        "gateway alive": lab.alive(),
        "no errors": not errors,
        "RSS drift < 20 MB": drift < 20,
    }
    return part
