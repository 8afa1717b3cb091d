"""The transport seam: connect, send one message, receive messages, close.

Kept as small as httpx's transport base so that stdio, streamable HTTP and legacy SSE can sit
behind the same upstream connection, and a test can swap in an in-memory one. A transport says
what it is (``description``) and which optional features it has (``features``) instead of being
probed for them. Every message it hands up has passed :func:`upstream.transports.envelope.screen`,
and it raises only members of :mod:`upstream.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from middleware.protocol import Message
from upstream.errors import ProtocolViolation, SessionExpired, TransportClosed

__all__ = [
    "NO_FEATURES",
    "STREAM_PER_REQUEST",
    "ProtocolViolation",
    "Received",
    "SessionExpired",
    "Transport",
    "TransportClosed",
]

Received = tuple[Message, Any]
"""A message from the peer, and the id of our request whose response stream carried it, when
the transport knows (streamable HTTP does; stdio does not, so it gives None)."""

STREAM_PER_REQUEST: Final = "stream-per-request"
"""Each request has its own answer stream (streamable HTTP), which :meth:`Transport.abandon`
can close: a 2026-07-28 upstream takes that as the call's cancellation."""
NO_FEATURES: Final[frozenset[str]] = frozenset()


class Transport(Protocol):
    @property
    def description(self) -> str:
        """How the transport describes its peer in logs (a pid, a URL without credentials)."""
        ...

    @property
    def features(self) -> frozenset[str]:
        """The optional features it has, such as :data:`STREAM_PER_REQUEST`."""
        ...

    async def connect(self) -> None: ...

    async def send(self, message: Message, headers: Mapping[str, str] | None = None) -> None:
        """Write one JSON-RPC message; raises :class:`TransportClosed` if the peer is gone.
        ``headers`` are extra HTTP headers the session layer wants sent with this message (the
        ``Mcp-Param-*`` of a tool call); a transport without headers ignores them."""
        ...

    async def receive(self) -> Received:
        """The next JSON-RPC message; raises :class:`TransportClosed` at the end,
        :class:`ProtocolViolation` when the peer broke the protocol, and :class:`SessionExpired`
        (not an end: read on) when the peer forgot the transport's session."""
        ...

    def abandon(self, request_id: Any) -> bool:
        """Close the answer stream of ``request_id``; False when there is none (a transport
        without :data:`STREAM_PER_REQUEST`), and then ``notifications/cancelled`` must say it."""
        ...

    def ended(self) -> str | None:
        """How the peer ended, when the transport can tell without reading (a process's exit
        status, a peer that hung up); None while it runs or when it cannot tell."""
        ...

    async def close(self) -> None: ...
