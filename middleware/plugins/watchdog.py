"""Plugin timeouts for a few hundred nanoseconds a call instead of a timer each.

``asyncio.timeout`` arms and disarms one loop timer per use (about 4.5 µs under uvloop); a hook
call is usually over in microseconds and a plugin timeout is counted in seconds. So calls in
flight are noted in a table, and one ticker task, alive only while the table is not empty,
cancels every call past its deadline (to within ``resolution``). A call's end is noted in the
same step as its last await, so a cancellation can only land inside the plugin's own code.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Final

RESOLUTION: Final = 0.05
"""Seconds between checks: how late past its deadline a call may be cancelled."""


class Watchdog:
    def __init__(self, resolution: float = RESOLUTION) -> None:
        self.resolution = resolution
        self._running: dict[int, tuple[float, asyncio.Task[object]]] = {}
        self._expired: set[int] = set()
        self._tokens = itertools.count()
        self._ticker: asyncio.Task[None] | None = None

    def begin(self, seconds: float) -> int:
        """Watch the current task for ``seconds``; the token for :meth:`end`."""
        task = asyncio.current_task()
        assert task is not None, "a plugin call runs in a task"
        token = next(self._tokens)
        self._running[token] = (task.get_loop().time() + seconds, task)
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick(), name="plugin-watchdog")
        return token

    def end(self, token: int) -> bool:
        """Stop watching; True if the watchdog cancelled this call (the caller uncancels)."""
        if self._running.pop(token, None) is not None:
            return False
        try:
            self._expired.remove(token)
        except KeyError:
            return False
        return True

    async def _tick(self) -> None:
        try:
            while self._running:
                await asyncio.sleep(self.resolution)
                now = asyncio.get_running_loop().time()
                for token, (deadline, task) in list(self._running.items()):
                    if deadline <= now:
                        del self._running[token]
                        self._expired.add(token)
                        task.cancel()
        finally:
            self._ticker = None
