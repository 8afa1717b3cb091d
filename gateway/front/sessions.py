"""Gateway sessions: durable records behind :class:`SessionStore`, live state per replica.

A record is everything a replica needs to serve a session (who owns it, which endpoint, the
negotiated version, the client's capabilities), so any replica can serve any session once the
store is shared. Live state (in-flight calls to cancel, the open GET stream) belongs to the
replica holding the connection and is rebuilt on demand.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
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
    project: str | None = None
    """The principal's project when the session began: a session stays in its project."""
    client_info: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)


class EndReason(enum.StrEnum):
    """Why a session ended; every holder of its state hears which."""

    DELETED = "deleted"
    """The client sent DELETE."""
    IDLE = "idle"
    """The janitor found it idle past the limit."""
    EXPIRED_ON_READ = "expired_on_read"
    """A request found its record expired before the janitor did."""
    SHUTDOWN = "shutdown"
    """This replica is stopping; a shared record outlives it."""
    ENDED_ELSEWHERE = "ended_elsewhere"
    """Another replica ended it (and told the others on the replica bus)."""
    LISTEN_CLOSED = "listen_closed"
    """A 2026-07-28 ``subscriptions/listen`` stream (a delivery-only session) closed."""


SessionHolder = Callable[[str], Awaitable[object]]
"""Something that keeps per-session state, told (with the session id) when a session ends."""


class SessionEnds:
    """The one way a session ends: every place that keeps per-session state registers here,
    and each path that ends a session (DELETE, the janitor, an expired record found on read,
    shutdown, a listen stream closing) calls :meth:`end`, so none forgets a holder."""

    def __init__(self) -> None:
        self._holders: list[tuple[str, SessionHolder, frozenset[EndReason]]] = []

    def register(self, name: str, holder: SessionHolder, *, skip: Iterable[EndReason] = ()) -> None:
        """Tell ``holder`` of every session end (but those for a reason in ``skip``), after
        the holders registered before it. A holder must take an unknown or already ended
        session calmly: two paths may end the same session."""
        self._holders.append((name, holder, frozenset(skip)))

    async def end(self, session_id: str, reason: EndReason) -> None:
        """End a session everywhere."""
        for name, holder, skip in self._holders:
            if reason in skip:
                continue
            try:
                await holder(session_id)
            except Exception:  # boundary: one holder failing must not keep the others' state
                log.exception("the %s failed to let go of an ended session (%s)", name, reason)


class SessionStore(Protocol):
    on_expired: Callable[[str], Awaitable[None]]
    """Told when :meth:`get` finds an expired record, so the session ends everywhere
    (:attr:`EndReason.EXPIRED_ON_READ`) rather than only in the store."""

    async def create(self, record: SessionRecord) -> None: ...

    async def get(self, session_id: str) -> SessionRecord | None:
        """The live record, refreshing its idle clock; None if unknown, deleted or expired
        (an expired one is dropped and reported to :attr:`on_expired` first)."""
        ...

    async def delete(self, session_id: str) -> bool: ...

    async def count(self) -> int: ...

    async def records(self) -> list[SessionRecord]:
        """Every live record, as kept (idle clocks untouched): for operators (the admin API),
        never the hot path, which asks by id."""
        ...

    async def expire_idle(self) -> list[str]:
        """Drop sessions idle past the limit; returns their ids."""
        ...

    async def close(self) -> None:
        """The gateway is stopping (records in a shared store stay for the other replicas)."""
        ...

    async def forget(self, session_id: str) -> None:
        """Drop any copy of an ended session's record this replica keeps (a shared store's)."""
        ...

    async def reachable(self) -> bool:
        """Can sessions be found and opened now (``/readyz``)?"""
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
        self.elsewhere: Callable[[str, dict[str, Any]], None] | None = None
        """With replicas: hands on a message for a session whose GET stream this replica has
        never held (it may be open on another)."""

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

    async def session_ended(self, session_id: str) -> None:
        """A :class:`SessionHolder`: the session ended, so its live state goes."""
        self.close(session_id)

    def close(self, session_id: str) -> None:
        """Drop a session's live state: cancel its calls and end its GET stream."""
        live = self._sessions.pop(session_id, None)
        if live is None:
            return
        for request_id, task in live.in_flight.items():
            live.cancelled.add(request_id)
            task.cancel()
        if live.stream is not None:
            live.stream.put_nowait(None)

    def broadcast(self, endpoints: set[str], message: dict[str, Any]) -> int:
        """Queue ``message`` on the GET stream of every session of ``endpoints``."""
        return self.send_to(self._sessions, endpoints, message, forward=False)

    def existing(self, session_id: str) -> LiveSession | None:
        return self._sessions.get(session_id)

    def send_to(
        self,
        session_ids: Iterable[str],
        endpoints: set[str] | None,
        message: dict[str, Any],
        *,
        forward: bool = True,
    ) -> int:
        """Queue ``message`` on the GET streams of those sessions (of ``endpoints``, if given);
        ``forward``: hand it :attr:`elsewhere` for those whose stream is not here."""
        delivered = 0
        for session_id in session_ids:
            live = self._sessions.get(session_id)
            if live is not None and endpoints is not None and live.endpoint not in endpoints:
                continue
            if live is None or live.stream is None:
                if forward and self.elsewhere is not None:
                    self.elsewhere(session_id, message)
                continue
            try:
                live.stream.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("session %s... is not reading its stream; a message was dropped", session_id[:8])
                continue
            delivered += 1
        return delivered

    def ids(self) -> list[str]:
        """The sessions (and listen streams) with live state here."""
        return list(self._sessions)

    def __len__(self) -> int:
        return len(self._sessions)
