"""µs per small tools/call result through each limits middleware, in process (no I/O).

Run: ``.venv/bin/python -m bench.limits``. Best of many short runs, since the machine
may be shared; the numbers are the cost of the hot path, not a throughput.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from middleware.limits import ProgressThrottle, ResultLimits
from middleware.protocol import RESPONSE, result_message
from middleware.protocol.testing import make_test_scope
from middleware.timeouts import Timeouts

RESULT = {"content": [{"type": "text", "text": "hello world " * 8}], "isError": False}


async def inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": RESPONSE, "message": result_message(scope["id"], RESULT)})


async def sink(event: Any) -> None:
    return None


async def recv() -> Any:
    raise AssertionError


async def per_call(app: Any, n: int = 2_000) -> float:
    """Best of many short runs: the machine is shared, the minimum is the cost."""
    scope = make_test_scope("tools/call", {"name": "x"})
    for _ in range(1000):
        await app(scope, recv, sink)
    best = float("inf")
    for _ in range(200):
        started = time.perf_counter()
        for _ in range(n):
            await app(scope, recv, sink)
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


async def main() -> None:
    bare = await per_call(inner)
    print(f"bare inner app:            {bare:6.2f} us/call")
    from middleware.limits import measure

    elapsed = float("inf")
    for _ in range(200):
        started = time.perf_counter()
        for _ in range(2000):
            measure(RESULT, max_bytes=16 << 20, max_width=100_000, max_depth=64)
        elapsed = min(elapsed, (time.perf_counter() - started) / 2000 * 1e6)
    print(f"measure() alone:           {elapsed:6.2f} us/result")
    for name, app in [
        ("ResultLimits", ResultLimits(inner)),
        ("ProgressThrottle", ProgressThrottle(inner)),
        ("Timeouts", Timeouts(inner)),
        ("all three", Timeouts(ProgressThrottle(ResultLimits(inner)))),
    ]:
        cost = await per_call(app)
        print(f"{name:26s} {cost:6.2f} us/call  (+{cost - bare:5.2f})")


if __name__ == "__main__":
    asyncio.run(main())
