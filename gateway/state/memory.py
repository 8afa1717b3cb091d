"""The embedded state backends: one process, nothing persisted, every size bounded.

They implement the Protocols the front declares (:class:`SessionStore`, :class:`EventStore`);
a shared (Redis) backend implements the same ones, and the composition root picks.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson

from gateway.front.events import Message, Replayed
from gateway.front.sessions import SessionRecord


async def _nobody_told(session_id: str) -> None:
    """Until the composition root wires the store to the session's end."""


class InMemorySessionStore:
    """The embedded default: one process, nothing persisted."""

    def __init__(
        self,
        *,
        idle_timeout: float,
        on_expired: Callable[[str], Awaitable[None]] = _nobody_told,
    ) -> None:
        self._records: dict[str, SessionRecord] = {}
        self._idle_timeout = idle_timeout
        self.on_expired = on_expired

    async def create(self, record: SessionRecord) -> None:
        self._records[record.id] = record

    async def get(self, session_id: str) -> SessionRecord | None:
        record = self._records.get(session_id)
        if record is None:
            return None
        now = time.time()
        if now - record.last_seen > self._idle_timeout:
            # Expired before the janitor came by: the session still ends everywhere.
            del self._records[session_id]
            await self.on_expired(session_id)
            return None
        record.last_seen = now
        return record

    async def delete(self, session_id: str) -> bool:
        return self._records.pop(session_id, None) is not None

    async def count(self) -> int:
        return len(self._records)

    async def records(self) -> list[SessionRecord]:
        return list(self._records.values())

    async def close(self) -> None:
        """Nothing to let go of (the shared store closes its connection)."""

    async def reachable(self) -> bool:
        return True

    async def forget(self, session_id: str) -> None:
        """The record is the only copy: :meth:`delete` removes it."""

    async def expire_idle(self) -> list[str]:
        cutoff = time.time() - self._idle_timeout
        expired = [sid for sid, record in self._records.items() if record.last_seen < cutoff]
        for sid in expired:
            del self._records[sid]
        return expired


@dataclass(slots=True)
class _Stream:
    events: deque[tuple[int, Message | None, int]]
    """(sequence number, message, its size in bytes)."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Session:
    streams: dict[str, _Stream] = field(default_factory=dict)
    size: int = 0
    """Bytes of every event kept for the session."""
    next_seq: int = 0
    """One sequence for all the session's streams: a stream dropped for the bound and written
    again (the GET stream's) goes on where it was, so an older id never misses newer events."""


class InMemoryEventStore:
    """The embedded default: bounded per stream (events), per session (streams and bytes),
    nothing persisted. Over the byte budget, the oldest events of the session go first: a
    slow reader of a large stream cannot make the gateway keep what it already relayed."""

    def __init__(
        self,
        *,
        events_per_stream: int = 1000,
        streams_per_session: int = 64,
        bytes_per_session: int = 4 * 1024 * 1024,
    ) -> None:
        self._events_per_stream = events_per_stream
        self._streams_per_session = streams_per_session
        self._bytes_per_session = bytes_per_session
        self._sessions: dict[str, _Session] = {}

    async def append(self, session_id: str, stream_id: str, message: Message | None) -> str:
        session = self._sessions.setdefault(session_id, _Session())
        stream = session.streams.get(stream_id)
        if stream is None:
            if len(session.streams) >= self._streams_per_session:
                oldest = session.streams.pop(next(iter(session.streams)))
                session.size -= sum(size for _, _, size in oldest.events)
            stream = session.streams[stream_id] = _Stream(deque())
        if len(stream.events) >= self._events_per_stream:
            session.size -= stream.events.popleft()[2]
        size = len(orjson.dumps(message)) if message is not None else 0
        seq = session.next_seq
        session.next_seq += 1
        stream.events.append((seq, message, size))
        session.size += size
        if session.size > self._bytes_per_session:
            _shrink(session, self._bytes_per_session, stream)
        stream.changed.set()
        return f"{stream_id}.{seq}"

    async def after(self, session_id: str, stream_id: str, seq: int) -> Replayed | None:
        session = self._sessions.get(session_id)
        stream = session.streams.get(stream_id) if session is not None else None
        if stream is None:
            return None
        return [(f"{stream_id}.{s}", m) for s, m, _ in stream.events if s > seq]

    def kept_bytes(self, session_id: str) -> int:
        """Bytes of events kept for a session (for tests and metrics)."""
        session = self._sessions.get(session_id)
        return session.size if session is not None else 0

    async def wait(self, session_id: str, stream_id: str, patience: float) -> None:
        session = self._sessions.get(session_id)
        stream = session.streams.get(stream_id) if session is not None else None
        if stream is None:
            await asyncio.sleep(patience)
            return
        stream.changed.clear()
        try:
            await asyncio.wait_for(stream.changed.wait(), patience)
        except TimeoutError:
            return

    async def forget(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        """How many sessions have events kept here."""
        return len(self._sessions)


def _shrink(session: _Session, budget: int, current: _Stream) -> None:
    """Drop the session's oldest events (oldest stream first) until it fits ``budget``; the
    event just kept on ``current`` stays. A stream keeps its sequence, so ids stay unique and a
    resumed stream replays what it still has."""
    for stream in session.streams.values():
        events = stream.events
        floor = 1 if stream is current else 0
        while len(events) > floor and session.size > budget:
            session.size -= events.popleft()[2]
        if session.size <= budget:
            return
