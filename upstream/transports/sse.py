"""An incremental parser of Server-Sent Events, for the HTTP transports.

It follows the event-stream interpretation of the HTML standard (any of CRLF, LF or CR ends a
line, ``:`` starts a comment, ``data`` lines join with LF, ``id`` and ``retry`` are kept) and
works on whatever chunks the socket gives, so events are relayed as they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
_BOM: Final = b"\xef\xbb\xbf"


class MessageTooLarge(Exception):
    """A message (an SSE event's data, or a JSON body) exceeded ``max_message_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"sent a message larger than max_message_bytes ({limit})")
        self.limit = limit


_VIEW_FROM: Final = 64 * 1024
"""Data lines longer than this stay views into the received buffer."""


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    data: bytes | memoryview
    """A view into the received buffer for data over 64 KiB (no copy), else bytes."""
    id: str | None


class SseParser:
    """Feed it chunks, get complete events back. ``last_event_id`` and ``retry`` (milliseconds)
    keep what the server said for reconnecting."""

    __slots__ = (
        "_data",
        "_event",
        "_id_buffer",
        "_limit",
        "_partial",
        "_size",
        "_skip_lf",
        "_started",
        "events",
        "last_event_id",
        "retry",
    )

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self._limit = max_event_bytes
        self._partial = bytearray()
        self._skip_lf = False
        self._started = False
        self._data: list[bytes | memoryview] = []
        self._size = 0
        self._event = ""
        self._id_buffer: str | None = None
        self.last_event_id: str | None = None
        self.retry: int | None = None
        self.events = 0
        """How many events were dispatched (with data or without), to tell a stream that moved."""

    def feed(self, chunk: bytes) -> list[SseEvent]:
        events: list[SseEvent] = []
        if not self._started:
            started = self._start(chunk)
            if started is None:
                return events
            chunk = started
        start = 0
        if self._skip_lf:
            self._skip_lf = False
            start = 1 if chunk[:1] == b"\n" else 0
        # Where the next CR and LF are, kept across lines so a chunk is scanned once for each.
        next_cr = chunk.find(b"\r", start)
        next_lf = chunk.find(b"\n", start)
        while next_cr != -1 or next_lf != -1:
            end, after = self._line_end(chunk, next_cr, next_lf)
            self._line(self._take(chunk, start, end) if self._partial else chunk[start:end], events)
            start = after
            if -1 < next_cr < start:
                next_cr = chunk.find(b"\r", start)
            if -1 < next_lf < start:
                next_lf = chunk.find(b"\n", start)
        self._keep(chunk, start)
        return events

    def _start(self, chunk: bytes) -> bytes | None:
        """The first bytes of the stream without a BOM; None while a BOM may be split."""
        chunk = bytes(self._partial) + chunk
        self._partial.clear()
        if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
            self._partial += chunk  # maybe a BOM split across chunks
            return None
        self._started = True
        return chunk[len(_BOM) :] if chunk.startswith(_BOM) else chunk

    def _take(self, chunk: bytes, start: int, end: int) -> bytes | bytearray:
        """The line ``chunk[start:end]``, after what an earlier chunk left of it."""
        # Hand the buffer over instead of copying it: a 10 MB line is copied once, here.
        self._partial += memoryview(chunk)[start:end]
        line, self._partial = self._partial, bytearray()
        return line

    def _keep(self, chunk: bytes, start: int) -> None:
        """Keep the unfinished line at the end of ``chunk`` for the next one, within the limit."""
        if start < len(chunk):
            self._partial += memoryview(chunk)[start:]
            if len(self._partial) > self._limit:
                raise MessageTooLarge(self._limit)

    def _line_end(self, chunk: bytes, cr: int, lf: int) -> tuple[int, int]:
        """(where the line ends, where the next begins), given the next CR and LF (-1: none).
        Any of CRLF, LF or CR ends a line."""
        if cr == -1 or -1 < lf < cr:
            return lf, lf + 1
        after = cr + 1
        if after == len(chunk):
            self._skip_lf = True  # a CRLF may be split across two chunks
        elif chunk[after] == 0x0A:
            after += 1
        return cr, after

    def _line(self, line: bytes | bytearray, events: list[SseEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[0] == 0x3A:  # ":" starts a comment (keep-alives)
            return
        colon = line.find(b":")
        value: bytes | memoryview
        if colon < 0:
            name, value = bytes(line), b""
        else:
            name = bytes(line[:colon])
            start = colon + 2 if line[colon + 1 : colon + 2] == b" " else colon + 1
            # A view, not a copy: data lines can be megabytes.
            value = memoryview(line)[start:] if len(line) - start > _VIEW_FROM else bytes(line[start:])
        if name == b"data":
            self._size += len(value) + 1
            if self._size > self._limit:
                raise MessageTooLarge(self._limit)
            self._data.append(value)
        elif name == b"event":
            self._event = bytes(value).decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id_buffer = bytes(value).decode("utf-8", "replace")
        elif name == b"retry" and bytes(value).isdigit():
            self.retry = int(value)

    def _dispatch(self, events: list[SseEvent]) -> None:
        if self._id_buffer is not None:
            self.last_event_id = self._id_buffer or None
        data, self._data, self._size = self._data, [], 0
        event, self._event = self._event, ""
        if not data and self._id_buffer is None:
            return
        self._id_buffer = None
        self.events += 1
        if data:
            joined = data[0] if len(data) == 1 else b"\n".join(data)
            events.append(SseEvent(event or "message", joined, self.last_event_id))
