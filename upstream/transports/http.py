"""Choosing an HTTP transport from settings: streamable HTTP, the 2024-11-05 HTTP+SSE
transport, or ``auto``, the spec's backwards-compatibility probe, which falls back to HTTP+SSE
when the initialize POST is answered 400, 404 or 405.

The streamable transport itself is :mod:`upstream.transports.streamable` (re-exported here).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping
from typing import Any, Literal

from middleware.protocol import Message
from upstream.transports.base import Received, Transport, TransportClosed
from upstream.transports.http_auth import HttpAuth
from upstream.transports.http_support import DEFAULT_MAX_MESSAGE_BYTES, LEGACY_STATUSES, NotStreamableHttp
from upstream.transports.sse_legacy import LegacySseTransport
from upstream.transports.streamable import StreamableHttpTransport

__all__ = [
    "LEGACY_STATUSES",
    "AutoTransport",
    "NotStreamableHttp",
    "StreamableHttpTransport",
    "TransportKind",
    "http_transport",
]

log = logging.getLogger("portcullis.upstream")

TransportKind = Literal["auto", "streamable-http", "sse"]


class AutoTransport:
    """Streamable HTTP first; if the initialize POST is answered 400, 404 or 405, the 2024-11-05
    HTTP+SSE transport on the same URL (the spec's backwards-compatibility procedure)."""

    def __init__(self, streamable: StreamableHttpTransport, legacy: Callable[[], LegacySseTransport]) -> None:
        self.name = streamable.name
        self._current: StreamableHttpTransport | LegacySseTransport = streamable
        self._streamable = streamable
        self._legacy = legacy
        self._decided = False

    @property
    def description(self) -> str:
        return self._current.description

    @property
    def current(self) -> Transport:
        return self._current

    @property
    def features(self) -> frozenset[str]:
        return self._current.features

    def abandon(self, request_id: Any) -> bool:
        """Close a request's answer stream, when the transport in use has one per request."""
        return self._current.abandon(request_id)

    def ended(self) -> str | None:
        """A remote peer cannot be seen to end before a read fails."""
        return None

    async def connect(self) -> None:
        await self._current.connect()

    async def send(self, message: Message, headers: Mapping[str, str] | None = None) -> None:
        if self._decided or message.get("method") != "initialize":
            await self._current.send(message, headers)
            return
        try:
            await self._streamable.send(message)
        except NotStreamableHttp as probe:
            await self._fall_back(probe)
            await self._current.send(message)
        self._decided = True

    async def _fall_back(self, probe: NotStreamableHttp) -> None:
        """Move on to the legacy transport, or fail saying why neither fits."""
        legacy = self._legacy()
        try:
            await legacy.connect()
        except TransportClosed as exc:
            await legacy.close()
            raise TransportClosed(
                f"{probe.detail}, and is not a 2024-11-05 HTTP+SSE server either: {exc.detail}"
            ) from exc
        log.info("[%s] %s; using the 2024-11-05 HTTP+SSE transport", self.name, probe.detail)
        self._current = legacy
        await self._streamable.close()  # wakes receive(), which moves on to the new transport

    async def receive(self) -> Received:
        while True:
            transport = self._current
            try:
                return await transport.receive()
            except TransportClosed:
                if transport is self._current:
                    raise

    async def close(self) -> None:
        await self._current.close()
        if self._current is not self._streamable:
            await self._streamable.close()


def http_transport(
    name: str,
    url: str,
    *,
    transport: TransportKind = "auto",
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    sse_read_timeout: float = 300.0,
    ssl_context: ssl.SSLContext | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    auth: HttpAuth | None = None,
) -> Transport:
    """A fresh, unconnected transport for an HTTP upstream, as settings choose it (``auth``: its
    managed credentials, see :mod:`upstream.transports.http_auth`)."""
    options: dict[str, Any] = {
        "headers": headers,
        "timeout": timeout,
        "sse_read_timeout": sse_read_timeout,
        "ssl_context": ssl_context,
        "max_message_bytes": max_message_bytes,
        "auth": auth,
    }

    def legacy() -> LegacySseTransport:
        return LegacySseTransport(name, url, **options)

    if transport == "sse":
        return legacy()
    if transport == "streamable-http":
        return StreamableHttpTransport(name, url, **options)
    return AutoTransport(StreamableHttpTransport(name, url, detect_legacy=True, **options), legacy)
