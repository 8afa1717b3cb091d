"""The GET stream of a legacy session: messages not tied to a request, and resumed request
streams (``Last-Event-ID``), replayed from the session's event journal."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from gateway.front.client_stream import queued, watch_disconnect
from gateway.front.events import EventStore, Replayed, parse_event_id
from gateway.front.reply import KEEPALIVE, SSE_HEADERS, body_chunk, sse_event
from gateway.front.sessions import LiveSessions
from middleware.protocol.errors import Conflict, InvalidRequest
from middleware.protocol.http import ASGIReceive, ASGIScope, ASGISend, header

SESSION_HEADER: Final = b"mcp-session-id"
GET_STREAM: Final = "g"
"""The stream id of a session's GET stream in event ids (request streams start with 'r')."""
_STREAM_QUEUE_LIMIT: Final = 1024


class GetStreams:
    """Serves the GET requests of one endpoint's sessions."""

    def __init__(self, *, path: str, live: LiveSessions, events: EventStore, keepalive: float) -> None:
        self.path = path
        self.live = live
        self.events = events
        self.keepalive = keepalive

    async def serve(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend, session_id: str) -> None:
        """The session's GET stream, or a resumed request stream; raises when refused."""
        resume_from = None
        last_event_id = header(scope, b"last-event-id")
        if last_event_id is not None:
            resume_from = parse_event_id(last_event_id.decode("latin-1"))
            if resume_from is None:
                raise InvalidRequest("Last-Event-ID is not an event id this gateway issued")
            if resume_from[0] != GET_STREAM:
                await self._resume(session_id, *resume_from, receive, send)
                return
        live = self.live.get(session_id, self.path)
        if live.stream_attached:
            raise Conflict("Conflict: this session already has an open GET stream")
        if live.stream is None:
            live.stream = asyncio.Queue(_STREAM_QUEUE_LIMIT)
        live.stream_attached = True
        try:
            await self._stream_unsolicited(session_id, live.stream, resume_from, receive, send)
        finally:
            live.stream_attached = False

    async def _stream_unsolicited(
        self,
        session_id: str,
        queue: asyncio.Queue[dict[str, Any] | None],
        resume_from: tuple[str, int] | None,
        receive: ASGIReceive,
        send: ASGISend,
    ) -> None:
        """The GET stream: what it missed (with Last-Event-ID), then messages as they come."""
        headers = [*SSE_HEADERS, (SESSION_HEADER, session_id.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(body_chunk(b": stream open\n\n"))
        if resume_from is not None:
            for event_id, message in await self.events.after(session_id, *resume_from) or []:
                if message is not None:
                    await send(body_chunk(sse_event(message, event_id)))
        disconnected = watch_disconnect(receive)
        try:
            async for item in queued(queue, disconnected, send, self.keepalive):
                event_id = await self.events.append(session_id, GET_STREAM, item)
                await send(body_chunk(sse_event(item, event_id)))
            await send(body_chunk(b"", more=False))
        finally:
            disconnected.cancel()

    async def _resume(
        self, session_id: str, stream_id: str, seq: int, receive: ASGIReceive, send: ASGISend
    ) -> None:
        """Resume a request's stream: replay what came after ``seq``, then follow the call
        live until its response has been delivered."""
        events = await self.events.after(session_id, stream_id, seq)
        if events is None:
            raise InvalidRequest("cannot resume: the events of that stream are no longer kept")
        headers = [*SSE_HEADERS, (SESSION_HEADER, session_id.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        disconnected = watch_disconnect(receive)
        try:
            while not disconnected.done():
                seq, complete = await _replay(send, events, seq)
                if complete:
                    return
                await self.events.wait(session_id, stream_id, self.keepalive)
                if not disconnected.done():
                    await send(body_chunk(KEEPALIVE))
                events = await self.events.after(session_id, stream_id, seq) or []
        finally:
            disconnected.cancel()


async def _replay(send: ASGISend, events: Replayed, seq: int) -> tuple[int, bool]:
    """Send ``events``; the last sequence number sent, and whether the response (which ends the
    stream) was among them."""
    for event_id, message in events:
        seq = int(event_id.rpartition(".")[2])
        if message is None:
            continue
        await send(body_chunk(sse_event(message, event_id)))
        if "method" not in message:  # the response: the stream is complete
            await send(body_chunk(b"", more=False))
            return seq, True
    return seq, False
