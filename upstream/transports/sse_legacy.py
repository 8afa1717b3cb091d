"""The HTTP+SSE transport of protocol revision 2024-11-05, for servers that predate streamable
HTTP.

We GET the SSE URL and hold that stream for the whole session; its first event, ``endpoint``,
names the URL to POST messages to (resolved against the SSE URL, and refused unless it is on the
same origin, since our configured headers go there). Every message from the server arrives on the
stream, so nothing is tied to a request (``related`` is always None). The session lives and dies
with the stream: when it ends, the transport is closed and the supervisor starts a new session.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping

import aiohttp
import orjson
from yarl import URL

from middleware.protocol import UPSTREAM_TRACE, Message
from upstream.errors import mapped
from upstream.transports.base import NO_FEATURES, ProtocolViolation, TransportClosed
from upstream.transports.http_auth import HttpAuth
from upstream.transports.http_support import (
    DEFAULT_MAX_MESSAGE_BYTES,
    EVENT_STREAM,
    JSON,
    NETWORK_ERRORS,
    HttpTransportBase,
    MessageTooLarge,
    SseParser,
    client_session,
    closed_by,
    decode_messages,
    describe_failure,
    describe_first_contact,
    error_body,
    forward_error,
    safe_url,
    same_origin,
    upstream_error,
)
from upstream.transports.trace_context import traced

log = logging.getLogger("portcullis.upstream")


class LegacySseTransport(HttpTransportBase):
    """Everything the server says arrives on one stream, tied to no request."""

    features = NO_FEATURES

    def __init__(
        self,
        name: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        sse_read_timeout: float = 300.0,
        ssl_context: ssl.SSLContext | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        auth: HttpAuth | None = None,
    ) -> None:
        super().__init__(
            name,
            url,
            headers=headers,
            timeout=timeout,
            sse_read_timeout=sse_read_timeout,
            ssl_context=ssl_context,
            max_message_bytes=max_message_bytes,
            auth=auth,
        )
        self._endpoint: URL | None = None
        self._endpoint_ready: asyncio.Future[URL] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._post_headers = {**self._headers, "Content-Type": JSON}
        self._mapped = mapped(self._failure)

    @property
    def description(self) -> str:
        return f"HTTP+SSE (2024-11-05) {self._shown}"

    @property
    def endpoint(self) -> URL | None:
        return self._endpoint

    def abandon(self, request_id: object) -> bool:
        return False  # answers come on the one stream: nothing per request to close

    def ended(self) -> str | None:
        """A remote peer cannot be seen to end before a read fails."""
        return None

    async def connect(self) -> None:
        """Open the stream and wait (up to ``timeout``) for the ``endpoint`` event."""
        with self._mapped:
            await self._connect()

    async def send(self, message: Message, headers: Mapping[str, str] | None = None) -> None:
        trace_headers = None
        if UPSTREAM_TRACE.get() is not None:  # only the trace context: the 2024-11-05 transport has no others
            message, trace_headers = traced(self.name, "sse", message, None)
        with self._mapped:
            await self._send(message, trace_headers)

    def _failure(self, exc: BaseException) -> str:
        return describe_failure(exc, self._shown)

    async def _connect(self) -> None:
        self._http = client_session(timeout=self._timeout, ssl_context=self._ssl)
        try:
            async with asyncio.timeout(self._timeout):
                headers = {**self._headers, "Accept": EVENT_STREAM}
                response = await self._request("GET", self._url, headers, timeout=self._stream_timeout)
        except NETWORK_ERRORS as exc:
            raise TransportClosed(describe_first_contact(exc, self._shown)) from exc
        if response.status != 200 or response.content_type != EVENT_STREAM:
            detail = (
                self.refusal(response, self._shown)
                if response.status != 200
                else f"answered the SSE GET with Content-Type {response.content_type!r} ({self._shown})"
            )
            response.release()
            raise closed_by(response, detail)
        self._endpoint_ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(response), name=f"sse:{self.name}")
        try:
            async with asyncio.timeout(self._timeout):
                self._endpoint = await asyncio.shield(self._endpoint_ready)
        except TimeoutError:
            raise TransportClosed(
                f"sent no `endpoint` event within {self._timeout:g}s ({self._shown}); "
                "is this a 2024-11-05 HTTP+SSE endpoint?"
            ) from None

    async def _send(self, message: Message, extra: Mapping[str, str] | None = None) -> None:
        if self._closed is not None:
            raise TransportClosed(self._closed)
        if self._http is None or self._endpoint is None:
            raise TransportClosed("not connected")
        shown = safe_url(self._endpoint)
        status: int | None = None
        try:
            async with asyncio.timeout(self._timeout):
                data = orjson.dumps(message)
                headers = {**self._post_headers, **extra} if extra else self._post_headers
                posted = self._request("POST", self._endpoint, headers, data=data)
                async with await posted as response:
                    status = response.status
                    if status in (200, 201, 202, 204):
                        return
                    # A 401 (after a fresh set of credentials was refused too) is ours to word.
                    error = await error_body(response) if status >= 400 and status != 401 else None
                    detail = self.refusal(response, shown)
        except NETWORK_ERRORS as exc:
            error, detail = None, describe_failure(exc, shown)
        method, request_id = message.get("method"), message.get("id")
        if method is not None and request_id is not None:
            # Nothing else will answer this request: the server refused it.
            answer = (
                forward_error(request_id, error, status)
                if error is not None and status is not None
                else upstream_error(self.name, request_id, detail, status=status)
            )
            await self._queue.put((answer, None))
        else:
            log.warning("[%s] upstream did not accept %s: %s", self.name, method or "a response", detail)

    async def close(self) -> None:
        if self._closed is None:
            self._closed = "was closed by the gateway"
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        self._push_eof()

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        parser = SseParser(self._limit)
        detail = f"ended its SSE stream ({self._shown})"
        try:
            async with response:
                async for chunk in response.content.iter_any():
                    for event in parser.feed(chunk):
                        if event.event == "endpoint":
                            self._on_endpoint(bytes(event.data))
                        elif event.event == "message":
                            await self._relay(event.data)
        except MessageTooLarge as exc:
            detail = str(exc)
        except NETWORK_ERRORS as exc:
            detail = describe_failure(exc, self._shown)
        if self._closed is None:
            self._closed = detail
        ready = self._endpoint_ready
        if ready is not None and not ready.done():
            ready.set_exception(TransportClosed(detail))
        self._push_eof()

    async def _relay(self, data: bytes | memoryview) -> None:
        try:
            messages = decode_messages(data, self.name)
        except ProtocolViolation as exc:
            log.warning("[%s] dropped a message of the SSE stream: it %s", self.name, exc.detail)
            return
        for message in messages:
            await self._queue.put((message, None))

    def _on_endpoint(self, data: bytes) -> None:
        ready = self._endpoint_ready
        if ready is None or ready.done():
            return  # only the first one counts
        try:
            endpoint = self._url.join(URL(data.decode("utf-8").strip()))
        except (UnicodeDecodeError, ValueError):
            ready.set_exception(TransportClosed(f"sent an unusable `endpoint` event: {data[:200]!r}"))
            return
        if not same_origin(endpoint, self._url):
            ready.set_exception(
                TransportClosed(
                    f"named a POST endpoint on another origin ({safe_url(endpoint)}); refusing to send "
                    "messages (and our headers) there"
                )
            )
            return
        ready.set_result(endpoint)
