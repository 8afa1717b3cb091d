"""What the metrics middleware costs per ``tools/call``, in process (no HTTP, no upstream I/O):
``CallMetrics`` around an app that answers at once, against that app alone, best of many short
runs (the machine may be shared). The issue's budget for telemetry on (metrics plus sampled
traces) is 30 µs per call; metrics alone must stay well inside it.

Run ``.venv/bin/python -m tests.test_metrics_cost`` for the figures.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from middleware.protocol import RESPONSE, TARGET_NAME, TARGET_SERVER, result_message
from middleware.protocol.testing import make_test_scope
from middleware.telemetry.metrics import CallMetrics
from middleware.telemetry.metrics_store import Counts

RESULT = {"content": [{"type": "text", "text": "hello"}], "isError": False}
BUDGET_US = 10.0
"""Metrics' share of the 30 µs telemetry budget (measured ~3 µs; generous for shared CI)."""


async def answer(scope: Any, receive: Any, send: Any) -> None:
    scope["state"][TARGET_SERVER] = "alpha"  # as the router records it
    scope["state"][TARGET_NAME] = "echo"
    await send({"type": RESPONSE, "message": result_message(scope["id"], RESULT)})


NO_RECEIVE: Any = None
"""The apps measured here never receive."""


async def sink(event: Any) -> None:
    return None


async def best_per_call(app: Any, calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        scopes = [make_test_scope("tools/call", {"name": "alpha__echo"}) for _ in range(calls)]
        started = time.perf_counter()
        for scope in scopes:
            await app(scope, NO_RECEIVE, sink)
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6


async def measure(calls: int = 2000, rounds: int = 50) -> tuple[float, float]:
    """(bare app, app with metrics) in µs per call."""
    metrics = CallMetrics(answer, counts=Counts())
    bare = await best_per_call(answer, calls, rounds)
    counted = await best_per_call(metrics, calls, rounds)
    return bare, counted


def test_metrics_cost_per_call_is_inside_the_budget() -> None:
    bare, counted = asyncio.run(measure(calls=500, rounds=20))
    assert counted - bare < BUDGET_US, f"metrics cost {counted - bare:.2f} us per call"


if __name__ == "__main__":
    bare, counted = asyncio.run(measure())
    print(f"{'bare app':18} {bare:8.2f} us/call")
    print(f"{'with CallMetrics':18} {counted:8.2f} us/call ({counted - bare:+.2f} us)")
