"""Calls in flight, so that a stopping gateway answers each of them instead of dropping it.

uvicorn cancels whatever is still running once its graceful-shutdown timeout passes, and a
cancelled ASGI task is answered with a plain-text 500. Before that happens, :meth:`InFlight.drain`
gives the calls a grace period to finish, then cancels the rest itself; each call's front sees
:attr:`InFlight.closing` and answers on its own response or stream with :class:`ShuttingDown`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

from middleware.protocol import GatewayError, Message

log = logging.getLogger("portcullis.front")

ANSWER_TIME: Final = 1.0
"""How long cancelled calls get to write their answers once the grace period is over."""


class ShuttingDown(GatewayError):
    """The gateway stopped while the call was in flight: nothing is wrong with it, retry.
    (Answered in the call's own response, with its usual status, so every client reads it.)"""

    def __init__(self) -> None:
        super().__init__("the gateway is shutting down; retry")


class InFlight:
    """The tasks answering calls right now; one registry for every endpoint of both eras."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.closing = False
        """Set once the grace period is over: a cancelled call is being stopped by us."""

    def __enter__(self) -> None:
        """``with in_flight:`` counts the current task as answering a call while the block runs
        (a reusable context manager: the task is the current one on entry and on exit)."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._idle.clear()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self._tasks.discard(asyncio.current_task())
        if not self._tasks:
            self._idle.set()

    def __len__(self) -> int:
        """Calls being answered now (the metrics' gauge)."""
        return len(self._tasks)

    def stopped(self, request_id: Any) -> Message | None:
        """The answer for a call whose task was just cancelled: the shutdown error if we are
        stopping it (the task is uncancelled, so it can still write), else None (re-raise)."""
        if not self.closing:
            return None
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return ShuttingDown().to_message(request_id)

    async def drain(self, grace: float) -> None:
        """Let the calls in flight finish for up to ``grace`` seconds, then stop the rest,
        each answered with :class:`ShuttingDown`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._idle.wait()
        if not self._tasks:
            return
        log.warning("stopping %d call(s) still in flight: the gateway is shutting down", len(self._tasks))
        self.closing = True
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ANSWER_TIME):
                await self._idle.wait()
