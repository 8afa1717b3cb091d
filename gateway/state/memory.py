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

    async def expire_idle(self) -> list[str]:
        cutoff = time.time() - self._idle_timeout
        expired = [sid for sid, record in self._records.items() if record.last_seen < cutoff]
        for sid in expired:
            del self._records[sid]
        return expired


@dataclass(slots=True)
class _Stream:
    events: deque[tuple[int, Message | None]]
    next_seq: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class InMemoryEventStore:
    """The embedded default: bounded per stream and per session, nothing persisted."""

    def __init__(self, *, events_per_stream: int = 1000, streams_per_session: int = 64) -> None:
        self._events_per_stream = events_per_stream
        self._streams_per_session = streams_per_session
        self._sessions: dict[str, dict[str, _Stream]] = {}

    async def append(self, session_id: str, stream_id: str, message: Message | None) -> str:
        streams = self._sessions.setdefault(session_id, {})
        stream = streams.get(stream_id)
        if stream is None:
            if len(streams) >= self._streams_per_session:
                del streams[next(iter(streams))]  # the oldest stream goes first
            stream = streams[stream_id] = _Stream(deque(maxlen=self._events_per_stream))
        seq = stream.next_seq
        stream.next_seq += 1
        stream.events.append((seq, message))
        stream.changed.set()
        return f"{stream_id}.{seq}"

    async def after(self, session_id: str, stream_id: str, seq: int) -> Replayed | None:
        stream = self._sessions.get(session_id, {}).get(stream_id)
        if stream is None:
            return None
        return [(f"{stream_id}.{s}", m) for s, m in stream.events if s > seq]

    async def wait(self, session_id: str, stream_id: str, patience: float) -> None:
        stream = self._sessions.get(session_id, {}).get(stream_id)
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
