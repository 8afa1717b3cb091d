"""Newline-delimited JSON-RPC on the process's standard streams.

stdout carries protocol only: :func:`protocol_stdout` takes the real stdout for the writer and
points file descriptor 1 at stderr, so a stray ``print`` or a library's banner cannot corrupt the
channel. stdin is read in a thread: it may be a pipe, a file or a terminal, and only a thread
reads all three the same way on every platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator
from typing import IO, Final

import orjson

from middleware.protocol import INVALID_REQUEST, PARSE_ERROR, Message, error_message

MAX_LINE_BYTES: Final = 32 * 1024 * 1024
"""The longest message read (an embedded image or file can be large); longer is refused."""


def protocol_stdout() -> IO[bytes]:
    """The process's stdout for protocol messages alone; fd 1 is stderr from now on."""
    sys.stdout.flush()
    channel = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


class MessageWriter:
    """Writes one message per line; each write is whole (no interleaving)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.closed = False

    def write(self, message: Message) -> None:
        if self.closed:
            return
        try:
            self._stream.write(orjson.dumps(message) + b"\n")
            self._stream.flush()
        except (BrokenPipeError, ValueError, OSError):
            self.closed = True  # the client went away; what is left to say has no reader


TOO_LONG: Final = b"\x00too long"
"""Handed on in place of a line longer than :data:`MAX_LINE_BYTES` (its rest is skipped)."""


async def read_lines(stream: IO[bytes]) -> AsyncIterator[bytes]:
    """The lines of ``stream`` until end of file; :data:`TOO_LONG` for one too long to read."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(64)

    def hand_on(item: bytes | None) -> None:
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def pump() -> None:
        try:
            while line := stream.readline(MAX_LINE_BYTES + 1):
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                        pass
                    line = TOO_LONG
                hand_on(line)
        except (OSError, ValueError, RuntimeError):
            pass  # stdin closed under us, or the loop is gone: either way the end
        finally:
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(queue.put(None), loop)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


class BadLine(ValueError):
    """A line that is not one JSON-RPC message; ``answer`` is the error to write back."""

    def __init__(self, answer: Message) -> None:
        super().__init__(answer["error"]["message"])
        self.answer = answer


def parse(line: bytes) -> Message | None:
    """The message on ``line``, None for a blank one; raises :class:`BadLine`."""
    if line is TOO_LONG:
        problem = f"Invalid Request: a line longer than {MAX_LINE_BYTES // 2**20} MiB was refused unread"
        raise BadLine(error_message(None, INVALID_REQUEST, problem, fault="client"))
    text = line.strip()
    if not text:
        return None
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        problem = f"Parse error: a line on stdin is not JSON ({exc}); send one JSON-RPC message per line"
        raise BadLine(error_message(None, PARSE_ERROR, problem, fault="client")) from None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        problem = "Invalid Request: each line must be one JSON-RPC 2.0 object (batches are not MCP)"
        request_id = message.get("id") if isinstance(message, dict) else None
        raise BadLine(error_message(request_id, INVALID_REQUEST, problem, fault="client"))
    return message
