"""Stopping a background task that talks to Redis, for sure.

redis-py may turn a cancellation that lands inside a command into a connection error, which a
retrying loop then catches and carries on: one ``cancel()`` is lost, and awaiting the task waits
forever (a gateway that never stops, seen in the suite once in a few runs). Cancelling again
until it is done ends it at its next ``await``.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def stop(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait for its end, cancelling again while it swallows the request."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if not task.cancelled():
        task.exception()  # retrieved: a loop's last error is not "never retrieved" noise
