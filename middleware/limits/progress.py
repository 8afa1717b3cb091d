"""Coalesce progress notifications per call: at most ``per_second`` reach the client.

An upstream may report progress hundreds of times a second; relaying each costs the gateway and
the client a message for nothing a person can see. Within one call, the first ``burst``
notifications pass at once (a short task keeps every step), then at most ``per_second``: one
that comes too soon is held, and a newer one replaces it (intermediate values are dropped). The
held one goes out as soon as the rate allows (so the latest value arrives after a pause), or
just before any other event of the call, so nothing is reordered and the last progress always
precedes the final response.
"""

from __future__ import annotations

import asyncio
import logging

from middleware.protocol import NOTIFICATION, Event, MCPApp, Receive, Scope, Send

log = logging.getLogger("portcullis.limits")

PROGRESS = "notifications/progress"


class ProgressThrottle:
    def __init__(self, app: MCPApp, *, per_second: float = 20.0, burst: int = 10) -> None:
        if isinstance(per_second, bool) or not isinstance(per_second, int | float) or per_second <= 0:
            raise ValueError(
                f"`per_second` must be a positive number of progress notifications, not {per_second!r}"
            )
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"`burst` must be a positive integer, not {burst!r}")
        self.app = app
        self.per_second = float(per_second)
        self.burst = burst

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["id"] is None:
            await self.app(scope, receive, send)
            return
        gate: _Gate | None = None

        async def throttled(event: Event) -> None:
            nonlocal gate
            if gate is None:  # a call without progress never builds one
                if not _is_progress(event):
                    await send(event)
                    return
                gate = _Gate(send, self.per_second, self.burst)
            await gate.send(event)

        try:
            await self.app(scope, receive, throttled)
        finally:
            if gate is not None:
                gate.close()


def _is_progress(event: Event) -> bool:
    return event["type"] == NOTIFICATION and event["message"].get("method") == PROGRESS


class _Gate:
    """The progress of one call: a token bucket, and the newest notification held back."""

    __slots__ = ("_burst", "_lock", "_loop", "_pending", "_rate", "_send", "_stamp", "_timer", "_tokens")

    def __init__(self, send: Send, rate: float, burst: int) -> None:
        self._send = send
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._loop = asyncio.get_running_loop()
        self._stamp = self._loop.time()
        self._pending: Event | None = None
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # orders the timer's sends with the call's

    def _refill(self) -> float:
        now = self._loop.time()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        return self._tokens

    async def send(self, event: Event) -> None:
        if _is_progress(event):
            async with self._lock:
                if self._pending is None and self._refill() >= 1:
                    self._tokens -= 1
                    await self._send(event)
                    return
                self._pending = event  # a newer value replaces the held one
                if self._timer is None:
                    self._timer = asyncio.create_task(self._flush_later())
            return
        if self._timer is None:  # nothing held: the common path takes no lock
            await self._send(event)
            return
        async with self._lock:
            await self._flush()
            await self._send(event)

    async def _flush(self) -> None:
        event, self._pending = self._pending, None
        if event is not None:
            self._refill()
            self._tokens -= 1  # may go below zero when another event forces it out early
            await self._send(event)

    async def _flush_later(self) -> None:
        """Relay the held progress once a token is there; end when nothing more is held."""
        while True:
            await asyncio.sleep(max(0.0, (1 - self._refill()) / self._rate))
            async with self._lock:
                if self._pending is None:
                    self._timer = None
                    return
                try:
                    await self._flush()
                except Exception:  # the client is gone: the call's own next send will say so
                    log.debug("a held progress notification could not be relayed", exc_info=True)
                    self._timer = None
                    return

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


__all__ = ["ProgressThrottle"]
