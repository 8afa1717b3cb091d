"""Writing MCP answers over HTTP: one JSON body, or an SSE stream whose events carry ids kept
in the event store, so that a client that lost the connection can resume it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Final

import orjson

from gateway.front.events import EventStore
from middleware.protocol import RATE_LIMITED, RESPONSE, Event, Message
from middleware.protocol.http import ASGISend

log = logging.getLogger("portcullis.endpoint")

SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]
KEEPALIVE: Final = b": keep-alive\n\n"


RETRY_MS: Final = 1000
"""How long a client waits before reconnecting a dropped stream (sent on priming events)."""


def sse_event(message: Message | None, event_id: str | None = None) -> bytes:
    """One SSE event; ``None`` makes a priming event (an id, a retry delay and empty data)."""
    head = f"id: {event_id}\n".encode() if event_id is not None else b""
    if message is None:
        head += f"retry: {RETRY_MS}\n".encode()
    data = orjson.dumps(message) if message is not None else b""
    return head + b"event: message\ndata: " + data + b"\n\n"


def body_chunk(data: bytes, *, more: bool = True) -> dict[str, Any]:
    """An ASGI body message of a streamed response."""
    return {"type": "http.response.body", "body": data, "more_body": more}


def new_stream_id() -> str:
    return "r" + secrets.token_hex(6)


@dataclass(frozen=True, slots=True)
class Journal:
    """Where a session's SSE events are kept for resumption."""

    store: EventStore
    session_id: str

    async def record(self, stream_id: str, message: Message | None) -> str:
        return await self.store.append(self.session_id, stream_id, message)


class Reply:
    """Writes one POST's answer: JSON if the response comes first, else an SSE stream.

    Once streaming, every event is journaled before it is written, so a client that drops
    the connection can resume with ``Last-Event-ID`` and miss nothing, even of events the
    call sends after the drop.
    """

    __slots__ = ("_headers", "_journal", "_keepalive", "_send", "_stream", "_ticker", "mode")

    def __init__(
        self,
        send: ASGISend,
        headers: list[tuple[bytes, bytes]],
        keepalive: float,
        journal: Journal | None = None,
    ) -> None:
        self._send = send
        self._headers = headers
        self._keepalive = keepalive
        self._journal = journal
        self._stream = ""  # minted when the answer turns into a stream
        self._ticker: asyncio.Task[None] | None = None
        self.mode = "pending"  # pending -> json | sse -> sse-answered -> done

    async def __call__(self, event: Event, status: int = 200) -> None:
        """Write one event; ``status`` applies if the answer turns out to be one JSON body."""
        message = event["message"]
        if self.mode == "pending" and event["type"] == RESPONSE:
            status, extra = whole_answer_status(message, status)
            await self._json(message, status, extra)
            return
        if self.mode == "pending":
            await self._open_stream()
        if self.mode != "sse":
            log.debug("dropped an event after the response: %s", message.get("method"))
            return
        if event["type"] == RESPONSE:
            self.mode = "sse-answered"
        await self._event(message)

    async def _json(
        self, message: Message, status: int = 200, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        body = orjson.dumps(message)
        self.mode = "done"
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *self._headers,
            *(extra or ()),
        ]
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})

    async def _open_stream(self) -> None:
        self.mode = "sse"
        self._stream = new_stream_id()
        await self._send(
            {"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *self._headers]}
        )
        if self._journal is not None:
            priming = await self._journal.record(self._stream, None)
            await self._send(body_chunk(sse_event(None, priming)))
        self._ticker = asyncio.create_task(self._tick())

    async def _event(self, message: Message) -> None:
        event_id = await self._journal.record(self._stream, message) if self._journal else None
        await self._send(body_chunk(sse_event(message, event_id)))

    async def _tick(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):  # the client went away: nothing to keep alive
            while True:
                await asyncio.sleep(self._keepalive)
                await self._send(body_chunk(KEEPALIVE))

    async def finish(self, fallback: Message) -> None:
        """End the answer; ``fallback`` is sent if the call produced no response."""
        if self.mode == "pending":
            await self._json(fallback)
            return
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.mode == "sse":
            await self._event(fallback)
        if self.mode in ("sse", "sse-answered"):
            self.mode = "done"
            await self._send(body_chunk(b"", more=False))


def whole_answer_status(message: Message, status: int) -> tuple[int, list[tuple[bytes, bytes]]]:
    """The HTTP status (and headers) of an answer that is one JSON body: a rate limit's refusal
    is 429 with Retry-After, whichever layer sent it; any other keeps ``status``."""
    error = message.get("error")
    if not isinstance(error, dict) or error.get("code") != RATE_LIMITED:
        return status, []
    data = error.get("data")
    seconds = data.get("retryAfter") if isinstance(data, dict) else None
    retry = max(1, seconds) if isinstance(seconds, int) else 1
    return 429, [(b"retry-after", str(retry).encode())]
