"""Streamable HTTP transport (protocol revisions 2025-03-26 to 2025-11-25) on aiohttp's client.

Every message we send is one POST; its answer is one JSON body or an SSE stream relayed event by
event (:mod:`.streamable_answer`), each message tagged with the id of the request whose stream
carried it. A GET stream carries what the server sends unprompted (:mod:`.streamable_listen`).

The transport keeps only the wire state of a session: the ``Mcp-Session-Id`` and
``MCP-Protocol-Version`` headers it learns from the initialize exchange passing through (an
``initialize`` starts a new session). It does not understand MCP beyond that: when the server
says it forgot the session (404), ``receive()`` raises :class:`~upstream.errors.SessionExpired`
and the session layer re-runs the handshake and sends the request again.

A request whose ``_meta`` declares a 2026-07-28 version is sent the modern way instead: outside
any session, with the mirrored ``MCP-Protocol-Version``, ``Mcp-Method`` and ``Mcp-Name``
headers. Those are written here because they are wire framing: they follow from the message
alone, as ``Content-Type`` does. Headers that need knowledge of the server (the ``Mcp-Param-*``
of a tool whose schema asks for them) come from the session layer with the message
(``send(message, headers)``). Closing its answer stream cancels the call (``abandon``). Only the
server's own configured headers and credentials (:mod:`.http_auth`: a 401 earns one fresh set
and a retry) are sent: a client's credentials never reach this layer, and redirects are not
followed (they could carry our headers elsewhere).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Mapping
from typing import Any, Final

import aiohttp
import orjson

from middleware.protocol import UPSTREAM_TRACE, Message
from middleware.protocol.headers import request_headers
from upstream.errors import SessionExpired, mapped
from upstream.transports.base import STREAM_PER_REQUEST, TransportClosed
from upstream.transports.http_auth import HttpAuth
from upstream.transports.http_support import (
    DEFAULT_MAX_MESSAGE_BYTES,
    EVENT_STREAM,
    JSON,
    LEGACY_STATUSES,
    NETWORK_ERRORS,
    HttpTransportBase,
    NotStreamableHttp,
    client_session,
    closed_by,
    describe_failure,
    describe_first_contact,
    error_body,
    modern_version,
    session_header,
    upstream_error,
)
from upstream.transports.streamable_answer import answer_or_error, answers
from upstream.transports.streamable_listen import listen
from upstream.transports.trace_context import traced

log = logging.getLogger("portcullis.upstream")

ACCEPT_BOTH: Final = f"{JSON}, {EVENT_STREAM}"
_DELETE_TIMEOUT: Final = 5.0


class StreamableHttpTransport(HttpTransportBase):
    features = frozenset({STREAM_PER_REQUEST})

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
        detect_legacy: bool = False,
        reconnect_max: float = 30.0,
        connection_limit: int = 100,
        auth: HttpAuth | None = None,
        unix_socket: str | None = None,
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
        self._detect_legacy = detect_legacy
        self._mapped = mapped(self._failure)
        self.reconnect_max = reconnect_max
        self._connection_limit = connection_limit
        self._unix_socket = unix_socket
        self._session_id: str | None = None
        self._protocol_version: str | None = None
        self._post_headers: dict[str, str] = {}
        self._modern_headers = {**self._headers, "Accept": ACCEPT_BOTH, "Content-Type": JSON}
        self._opened = False
        """The first initialize went through: a later one renews the session."""
        self._initialize_id: Any = None
        self._exchanges: dict[Any, asyncio.Task[None]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._rebuild_headers()

    # --- the seam -------------------------------------------------------------------------------

    @property
    def description(self) -> str:
        return f"streamable HTTP {self._shown}"

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def protocol_version(self) -> str | None:
        return self._protocol_version

    async def connect(self) -> None:
        """Builds the pooled client and gets the credentials: the initialize POST is the first
        contact."""
        with self._mapped:
            self._http = client_session(
                timeout=self._timeout,
                ssl_context=self._ssl,
                limit=self._connection_limit,
                unix_socket=self._unix_socket,
            )
        await self.check_credentials()

    async def send(self, message: Message, headers: Mapping[str, str] | None = None) -> None:
        if self._closed is not None:
            raise TransportClosed(self._closed)
        if UPSTREAM_TRACE.get() is not None:
            message, headers = traced(self.name, "streamable-http", message, headers)
        with self._mapped:
            await self._send(message, headers)

    async def _send(self, message: Message, headers: Mapping[str, str] | None) -> None:
        method = message.get("method")
        if method is not None and "id" in message:
            request_id = message["id"]
            if method == "initialize":
                await self._initialize(message)
                return
            version = modern_version(message)
            if version is not None:
                self._spawn(request_id, self._modern_exchange(message, request_id, version, headers))
                return
            self._spawn(request_id, self._exchange(message, request_id, headers))
            return
        initialized = method == "notifications/initialized"
        await self._post_one_way(message, handshake=initialized and not self._opened)
        if initialized:
            self._opened = True
            self._start_listener()
        elif method == "notifications/cancelled":
            self._stop_exchange((message.get("params") or {}).get("requestId"))

    def abandon(self, request_id: Any) -> bool:
        """Close the answer stream of ``request_id`` (a modern upstream takes that as the
        call's cancellation)."""
        self._stop_exchange(request_id)
        return True

    def ended(self) -> str | None:
        """A remote peer cannot be seen to end before a read fails."""
        return None

    async def close(self) -> None:
        if self._closed is None:
            self._closed = "was closed by the gateway"
        tasks = [*self._exchanges.values()]
        if self._listener is not None:
            tasks.append(self._listener)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        http = self._http
        if http is not None and not http.closed:
            if self._session_id is not None:
                await self._delete_session(http)
            await http.close()
        self._push_eof()

    # --- what the helpers share -----------------------------------------------------------------

    @property
    def shown(self) -> str:
        """The URL as it may be shown (no credentials)."""
        return self._shown

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def timeout(self) -> float:
        return self._timeout

    @property
    def is_closed(self) -> bool:
        return self._closed is not None

    async def report_expired(self, request_id: Any, session_id: str) -> None:
        """Tell the session layer (through ``receive()``) that the server forgot our session."""
        await self._queue.put(SessionExpired(request_id, session_id))

    async def deliver(self, message: Message, related: Any) -> None:
        if self._initialize_id is not None and answers(message, self._initialize_id):
            self._initialize_id = None
            result = message.get("result")
            if isinstance(result, dict) and isinstance(result.get("protocolVersion"), str):
                self._set_session(self._session_id, result["protocolVersion"])
        await self._queue.put((message, related))

    async def get(self, last_event_id: str | None) -> aiohttp.ClientResponse:
        headers = {**self._post_headers, "Accept": EVENT_STREAM}
        del headers["Content-Type"]
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        async with asyncio.timeout(self._timeout):
            return await self._request("GET", self._url, headers, timeout=self._stream_timeout)

    # --- requests -------------------------------------------------------------------------------

    async def _initialize(self, message: Message) -> None:
        """A new session. The first is POSTed in line (a failure fails the handshake at once and
        ``auto`` sees the status); a renewal is an exchange like any other."""
        self._initialize_id = message["id"]
        self._set_session(None, None)
        if self._opened:
            self._spawn(message["id"], self._exchange(message, message["id"], None, opening=True))
            return
        try:
            response = await self._post(message)
        except NETWORK_ERRORS as exc:
            raise TransportClosed(describe_first_contact(exc, self._shown)) from exc
        if self._detect_legacy and response.status in LEGACY_STATUSES:
            response.release()
            raise NotStreamableHttp(response.status, self._shown)
        if response.status != 200:
            # Said here rather than as an error answer, so that the failure reads as the
            # handshake's: "failed to start: refused our credentials (HTTP 401 ...)".
            detail = self.refusal(response, self._shown)
            error = await error_body(response)
            response.release()
            raise closed_by(response, f"{detail}: {error['message']}" if error else detail)
        self._set_session(session_header(response), None)
        self._spawn(message["id"], self._answer(message["id"], response))

    async def _exchange(
        self, message: Message, request_id: Any, headers: Mapping[str, str] | None, *, opening: bool = False
    ) -> None:
        sent_session = self._session_id
        post_headers = {**self._post_headers, **headers} if headers else self._post_headers
        deadline = asyncio.timeout(self._timeout)  # to the last byte of a JSON answer; see _answer
        try:
            async with deadline:
                response = await self._send_post(message, post_headers)
                if response.status == 404 and sent_session is not None:
                    deadline.reschedule(None)
                    response.release()
                    await self.report_expired(request_id, sent_session)
                    return
                if opening and response.status == 200:
                    self._set_session(session_header(response), None)
                await self._answer(request_id, response, deadline=deadline)
        except NETWORK_ERRORS as exc:
            detail = describe_failure(exc, self._shown)
            await self.deliver(upstream_error(self.name, request_id, detail), request_id)

    async def _modern_exchange(
        self, message: Message, request_id: Any, version: str, extra: Mapping[str, str] | None
    ) -> None:
        """One 2026-07-28 request: its own POST, no session; cancelled by closing it."""
        headers = {**self._modern_headers, **request_headers(message, version)}
        if extra:
            headers.update(extra)
        deadline = asyncio.timeout(self._timeout)
        response: aiohttp.ClientResponse | None = None
        try:
            async with deadline:
                response = await self._send_post(message, headers)
                await self._answer(request_id, response, resumable=False, deadline=deadline)
        except NETWORK_ERRORS as exc:
            detail = describe_failure(exc, self._shown)
            await self.deliver(upstream_error(self.name, request_id, detail), request_id)
        except asyncio.CancelledError:
            if response is not None:
                response.close()  # the connection goes with it: the server sees the stream closed
            raise

    async def _answer(
        self,
        request_id: Any,
        response: aiohttp.ClientResponse,
        *,
        resumable: bool = True,
        deadline: asyncio.Timeout | None = None,
    ) -> None:
        """Relay the answer to ``request_id``. One deadline (``timeout``) runs from the POST to
        the last byte of a JSON answer; an SSE answer switches it off and is watched for
        silence instead (``sse_read_timeout``): one timer per request, not three."""

        async def deliver(message: Message) -> None:
            await self.deliver(message, request_id)

        await answer_or_error(self, response, request_id, deliver, resumable=resumable, deadline=deadline)

    # --- session --------------------------------------------------------------------------------

    def _set_session(self, session_id: str | None, protocol_version: str | None) -> None:
        self._session_id = session_id
        self._protocol_version = protocol_version
        self._rebuild_headers()

    def _rebuild_headers(self) -> None:
        headers = {**self._headers, "Accept": ACCEPT_BOTH, "Content-Type": JSON}
        if self._session_id is not None:
            headers["Mcp-Session-Id"] = self._session_id
        if self._protocol_version is not None:
            headers["MCP-Protocol-Version"] = self._protocol_version
        self._post_headers = headers

    async def _delete_session(self, http: aiohttp.ClientSession) -> None:
        """End the session upstream; a 405 (the server does not allow it) is fine."""
        headers = {**self._post_headers, "Accept": ACCEPT_BOTH}
        headers.pop("Content-Type", None)
        try:
            async with asyncio.timeout(min(self._timeout, _DELETE_TIMEOUT)):
                async with await self._request("DELETE", self._url, headers) as response:
                    log.debug("[%s] DELETE session: HTTP %d", self.name, response.status)
        except NETWORK_ERRORS as exc:
            log.debug("[%s] DELETE session failed: %s", self.name, exc)

    def _start_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(listen(self), name=f"listen:{self.name}")

    # --- plumbing -------------------------------------------------------------------------------

    def _failure(self, exc: BaseException) -> str:
        return describe_failure(exc, self._shown)

    async def _post(self, message: Message, headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        """POST one message; returns once the status and headers are in (within ``timeout``)."""
        async with asyncio.timeout(self._timeout):
            return await self._send_post(message, self._post_headers if headers is None else headers)

    async def _send_post(self, message: Message, headers: dict[str, str]) -> aiohttp.ClientResponse:
        """POST one message (with the server's credentials); the caller bounds the wait."""
        data = orjson.dumps(message)
        return await self._request("POST", self._url, headers, data=data, timeout=self._post_timeout)

    async def _post_one_way(self, message: Message, *, handshake: bool) -> None:
        """POST a notification or response; the server accepts it with 202. During the first
        handshake a failure fails the connection; afterwards it is logged (nothing waits for it)."""
        try:
            response = await self._post(message)
        except NETWORK_ERRORS as exc:
            detail = describe_failure(exc, self._shown)
        else:
            async with response:
                if response.status in (200, 202, 204):
                    return
                detail = self.refusal(response, self._shown)
        what = message.get("method") or "a response"
        if handshake:
            raise TransportClosed(f"did not accept {what}: {detail}")
        log.warning("[%s] upstream did not accept %s: %s", self.name, what, detail)

    def _spawn(self, request_id: Any, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            finally:
                if self._exchanges.get(request_id) is task:
                    del self._exchanges[request_id]

        task = asyncio.create_task(run(), name=f"http:{self.name}:{request_id}")
        self._exchanges[request_id] = task

    def _stop_exchange(self, request_id: Any) -> None:
        """After ``notifications/cancelled`` went upstream, stop reading that call's stream
        (the spec says a disconnect alone is no cancellation, hence the order)."""
        task = self._exchanges.pop(request_id, None) if request_id is not None else None
        if task is not None:
            task.cancel()
