"""Event store for resumable SSE streams: every event sent on a stream is kept (bounded), so a
client that reconnects with ``Last-Event-ID`` gets what it missed on that stream.

Event ids are ``<stream>.<seq>``: the stream id is unique within its session, so ids are too,
and an id alone says which stream to resume (the spec forbids replaying another stream's).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

Message = dict[str, Any]
Replayed = list[tuple[str, Message | None]]


def parse_event_id(event_id: str) -> tuple[str, int] | None:
    stream, _, seq = event_id.rpartition(".")
    if not stream or not seq.isdigit():
        return None
    return stream, int(seq)


class EventStore(Protocol):
    async def append(self, session_id: str, stream_id: str, message: Message | None) -> str:
        """Keep ``message`` (None: a priming event) and return its event id."""
        ...

    async def after(self, session_id: str, stream_id: str, seq: int) -> Replayed | None:
        """The events of a stream after ``seq``; None if the stream is unknown or expired."""
        ...

    async def wait(self, session_id: str, stream_id: str, patience: float) -> None:
        """Return when the stream has new events, or after ``patience`` seconds."""
        ...

    async def forget(self, session_id: str) -> None: ...


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
