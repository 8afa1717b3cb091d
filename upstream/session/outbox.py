"""One call's notifications on their way to its client, off the upstream's reader.

The reader of a shared upstream serves every call on it: were it to wait while one client
reads slowly, every other call would wait too. So a call that gets notifications gets an
outbox, drained by its own task: the reader only puts into it and never waits. It is bounded:
when full, a progress notification takes the place of the latest queued one (only the newest
progress matters), and any other notification is dropped and counted in a warning. What is
delivered keeps the order in which the upstream sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING, Final

from middleware.protocol import Message

if TYPE_CHECKING:
    from upstream.session.calls import CallChannel

log = logging.getLogger("portcullis.upstream")

MAX_QUEUED: Final = 16
"""Notifications a call may have waiting for its client."""

PROGRESS: Final = "notifications/progress"


class Outbox:
    def __init__(self, name: str, channel: CallChannel) -> None:
        self._name = name
        self._channel = channel
        self._queue: deque[Message] = deque()
        self._more = asyncio.Event()
        self._idle = asyncio.Event()
        self._task = asyncio.create_task(self._drain(), name=f"outbox:{name}")
        self.dropped = 0

    def put(self, message: Message) -> None:
        """Queue ``message`` for the client, at once; when full, see the module's policy."""
        queue = self._queue
        if len(queue) >= MAX_QUEUED and not self._make_room(message):
            if not self.dropped:
                log.warning(
                    "[%s] a client reads too slowly: its call's notifications are dropped", self._name
                )
            self.dropped += 1
            return
        queue.append(message)
        self._idle.clear()
        self._more.set()

    def _make_room(self, message: Message) -> bool:
        """For a progress notification, forget the latest queued one; True if it did."""
        if message.get("method") != PROGRESS:
            return False
        queue = self._queue
        for index in range(len(queue) - 1, -1, -1):
            if queue[index].get("method") == PROGRESS:
                del queue[index]
                return True
        return False

    async def flush(self) -> None:
        """Wait until the client has had everything queued (before the call's answer)."""
        await self._idle.wait()

    def close(self) -> None:
        self._task.cancel()
        if self.dropped:
            log.warning("[%s] %d notifications dropped for a slow client", self._name, self.dropped)

    async def _drain(self) -> None:
        queue = self._queue
        while True:
            while queue:
                message = queue.popleft()
                with contextlib.suppress(Exception):  # boundary: a gone client drops its notifications
                    await self._channel.notify(message)
            self._idle.set()
            self._more.clear()
            await self._more.wait()
