"""Gateway sessions: durable records behind :class:`SessionStore`, live state per replica.

A record is everything a replica needs to serve a session (who owns it, which endpoint, the
negotiated version, the client's capabilities), so any replica can serve any session once the
store is shared. Live state (in-flight calls to cancel, the open GET stream) belongs to the
replica holding the connection and is rebuilt on demand.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from middleware.protocol import Event

log = logging.getLogger("portcullis.sessions")


def new_session_id() -> str:
    """256 random bits, URL-safe: visible ASCII as the spec requires, and unguessable."""
    return secrets.token_urlsafe(32)


@dataclass(slots=True)
class SessionRecord:
    id: str
    principal: str
    endpoint: str
    protocol_version: str
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    client_info: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)


class SessionStore(Protocol):
    async def create(self, record: SessionRecord) -> None: ...

    async def get(self, session_id: str) -> SessionRecord | None:
        """The live record, refreshing its idle clock; None if unknown, deleted or expired."""
        ...

    async def delete(self, session_id: str) -> bool: ...

    async def count(self) -> int: ...

    async def expire_idle(self) -> list[str]:
        """Drop sessions idle past the limit; returns their ids."""
        ...


StreamItem = dict[str, Any] | None
"""A message for the GET stream, or None to end it."""


class Inbox:
    """What the client sends to one call later: answers to the server requests it relayed."""

    __slots__ = ("_queue",)

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Event] | None = None

    def _get_queue(self) -> asyncio.Queue[Event]:
        if self._queue is None:
            self._queue = asyncio.Queue()
        return self._queue

    async def receive(self) -> Event:
        return await self._get_queue().get()

    def put(self, event: Event) -> None:
        self._get_queue().put_nowait(event)


@dataclass(slots=True)
class LiveSession:
    endpoint: str
    in_flight: dict[Any, asyncio.Task[Any]] = field(default_factory=dict)
    cancelled: set[Any] = field(default_factory=set)
    stream: asyncio.Queue[StreamItem] | None = None
    """Messages for the GET stream; kept while the client reconnects, so none are lost."""
    stream_attached: bool = False
    awaiting: dict[Any, Inbox] = field(default_factory=dict)
    """Server requests relayed to the client, by the id it will answer with."""


class LiveSessions:
    """This replica's live state of sessions, and delivery of unsolicited messages."""

    def __init__(self) -> None:
        self._sessions: dict[str, LiveSession] = {}
        self.on_close: Callable[[str], None] = lambda session_id: None
        """Called when a session ends here (deleted or expired)."""

    def get(self, session_id: str, endpoint: str) -> LiveSession:
        live = self._sessions.get(session_id)
        if live is None:
            live = self._sessions[session_id] = LiveSession(endpoint)
        return live

    def cancel(self, session_id: str, request_id: Any) -> bool:
        live = self._sessions.get(session_id)
        task = live.in_flight.get(request_id) if live else None
        if live is None or task is None or task.done():
            return False
        live.cancelled.add(request_id)
        task.cancel()
        return True

    def close(self, session_id: str) -> None:
        """End a session here: cancel its calls and end its GET stream."""
        live = self._sessions.pop(session_id, None)
        self.on_close(session_id)
        if live is None:
            return
        for request_id, task in live.in_flight.items():
            live.cancelled.add(request_id)
            task.cancel()
        if live.stream is not None:
            live.stream.put_nowait(None)

    def broadcast(self, endpoints: set[str], message: dict[str, Any]) -> int:
        """Queue ``message`` on the GET stream of every session of ``endpoints``."""
        return self.send_to(self._sessions, endpoints, message)

    def existing(self, session_id: str) -> LiveSession | None:
        return self._sessions.get(session_id)

    def send_to(self, session_ids: Iterable[str], endpoints: set[str] | None, message: dict[str, Any]) -> int:
        """Queue ``message`` on the GET streams of those sessions (of ``endpoints``, if given)."""
        delivered = 0
        for session_id in session_ids:
            live = self._sessions.get(session_id)
            if (
                live is None
                or live.stream is None
                or (endpoints is not None and live.endpoint not in endpoints)
            ):
                continue
            try:
                live.stream.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("session %s... is not reading its stream; a message was dropped", session_id[:8])
                continue
            delivered += 1
        return delivered

    def close_all(self) -> None:
        for session_id in list(self._sessions):
            self.close(session_id)
