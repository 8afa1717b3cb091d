"""The transport seam: connect, send one message, receive messages, close.

Kept as small as httpx's transport base so that stdio, streamable HTTP and legacy SSE can sit
behind the same upstream connection, and a test can swap in an in-memory one.
"""

from __future__ import annotations

from typing import Any, Protocol

from middleware.protocol import Message

Received = tuple[Message, Any]
"""A message from the peer, and the id of our request whose response stream carried it, when
the transport knows (streamable HTTP does; stdio does not, so it gives None)."""


class TransportClosed(Exception):
    """The peer went away; ``detail`` says how (exit code, EOF, I/O error)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Transport(Protocol):
    async def connect(self) -> None: ...

    async def send(self, message: Message) -> None:
        """Write one JSON-RPC message; raises :class:`TransportClosed` if the peer is gone."""
        ...

    async def receive(self) -> Received:
        """The next JSON-RPC message; raises :class:`TransportClosed` at the end."""
        ...

    async def close(self) -> None: ...
