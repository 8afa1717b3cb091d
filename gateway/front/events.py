"""Event store for resumable SSE streams: every event sent on a stream is kept (bounded), so a
client that reconnects with ``Last-Event-ID`` gets what it missed on that stream.

Event ids are ``<stream>.<seq>``: the stream id is unique within its session, so ids are too,
and an id alone says which stream to resume (the spec forbids replaying another stream's).
"""

from __future__ import annotations

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
