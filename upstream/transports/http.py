"""Streamable HTTP transport (protocol revisions 2025-03-26 to 2025-11-25) on aiohttp's client.

Every message we send is one POST. A request's answer comes back as one JSON body or as an SSE
stream, relayed event by event; each message it carries is tagged with the id of the request
whose response stream carried it. Once the session is initialized, a GET stream carries what the
server sends unprompted. The transport keeps the session alive on its own: it learns the session
id and protocol version from the initialize exchange passing through, re-initializes once when
the server says it forgot the session (404), and resumes a broken SSE stream with Last-Event-ID.

A request whose ``_meta`` declares a 2026-07-28 version is sent the modern way instead: outside
any session, with the mirrored ``MCP-Protocol-Version``, ``Mcp-Method`` and ``Mcp-Name``
headers; its answer stream is not resumable, and closing it is how the call is cancelled
(:meth:`StreamableHttpTransport.abandon`).

Nothing but the server's own configured headers is ever sent: a client's credentials never
reach this layer, and redirects are not followed (they could carry our headers elsewhere).

:func:`http_transport` picks the transport from settings, including ``auto``: the spec's
backwards-compatibility probe, which falls back to the 2024-11-05 HTTP+SSE transport when the
initialize POST is answered 400, 404 or 405.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Literal

import aiohttp
import orjson

from middleware.protocol import INTERNAL_ERROR, META_PROTOCOL_VERSION, Message, error_message, is_modern
from middleware.protocol.headers import request_headers
from middleware.protocol.param_headers import annotated, param_headers
from upstream.errors import UpstreamBrokeProtocol, mapped
from upstream.transports.base import (
    STREAM_PER_REQUEST,
    ProtocolViolation,
    Received,
    Transport,
    TransportClosed,
)
from upstream.transports.http_support import (
    DEFAULT_MAX_MESSAGE_BYTES,
    EVENT_STREAM,
    JSON,
    NETWORK_ERRORS,
    HttpTransportBase,
    MessageTooLarge,
    SseParser,
    client_session,
    decode_messages,
    describe_failure,
    describe_first_contact,
    error_body,
    forward_error,
    read_limited,
    status_detail,
    upstream_error,
)
from upstream.transports.sse_legacy import LegacySseTransport

log = logging.getLogger("portcullis.upstream")

TransportKind = Literal["auto", "streamable-http", "sse"]

ACCEPT_BOTH: Final = f"{JSON}, {EVENT_STREAM}"
LEGACY_STATUSES: Final = frozenset({400, 404, 405})
"""Answers to an initialize POST that mean "not a streamable HTTP endpoint" (spec, backwards
compatibility)."""
_BACKOFF_INITIAL: Final = 0.5
_DELETE_TIMEOUT: Final = 5.0
_FRUITLESS_RESUMES: Final = 1
"""Resumes in a row that bring no new event before we give up on a broken answer stream."""
_FRUITLESS_POLLS: Final = 3
"""The same, once the server asked us to poll (it sent a ``retry`` field)."""


class NotStreamableHttp(TransportClosed):
    """The initialize POST was answered 400, 404 or 405: maybe a 2024-11-05 HTTP+SSE server."""

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"answered the initialize POST with HTTP {status} ({url})")
        self.status = status


class _Failed(Exception):
    """The answer to a request cannot come; ``detail`` becomes the JSON-RPC error we deliver."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


Deliver = Callable[[Message], Awaitable[None]]


def _answers(message: Message, request_id: Any) -> bool:
    return (
        "method" not in message
        and message.get("id") == request_id
        and ("result" in message or "error" in message)
    )


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
    ) -> None:
        super().__init__(
            name,
            url,
            headers=headers,
            timeout=timeout,
            sse_read_timeout=sse_read_timeout,
            ssl_context=ssl_context,
            max_message_bytes=max_message_bytes,
        )
        self._detect_legacy = detect_legacy
        self._reconnect_max = reconnect_max
        self._connection_limit = connection_limit
        self._session_id: str | None = None
        self._protocol_version: str | None = None
        self._post_headers: dict[str, str] = {}
        self._modern_headers = {**self._headers, "Accept": ACCEPT_BOTH, "Content-Type": JSON}
        self._tool_schemas: dict[str, Any] = {}
        """Tool input schemas of a modern server that ask for Mcp-Param-* headers, by name."""
        self._generation = 0
        self._renewals = 0
        self._renew_lock = asyncio.Lock()
        self._renewed = asyncio.Event()
        self._initialize: Message | None = None
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
        """Only builds the pooled client: the initialize POST is the first contact."""
        with mapped(self._failure):
            self._http = client_session(
                timeout=self._timeout, ssl_context=self._ssl, limit=self._connection_limit
            )

    async def send(self, message: Message) -> None:
        if self._closed is not None:
            raise TransportClosed(self._closed)
        with mapped(self._failure):
            await self._send(message)

    async def _send(self, message: Message) -> None:
        method = message.get("method")
        if method is not None and "id" in message:
            request_id = message["id"]
            if method == "initialize":
                await self._open_session(message)
                return
            version = _modern_version(message)
            if version is not None:
                self._spawn(request_id, self._modern_exchange(message, request_id, version))
                return
            self._spawn(request_id, self._exchange(message, request_id))
            return
        await self._post_one_way(message, handshake=method == "notifications/initialized")
        if method == "notifications/initialized":
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

    # --- requests -------------------------------------------------------------------------------

    async def _open_session(self, message: Message) -> None:
        """POST initialize in line, so that a failure to connect fails the handshake at once
        and ``auto`` can see the status; its answer is then read like any other."""
        self._initialize = message
        self._initialize_id = message["id"]
        self._set_session(None, None)
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
            detail = status_detail(response, self._shown)
            error = await error_body(response)
            response.release()
            raise TransportClosed(f"{detail}: {error['message']}" if error else detail)
        self._set_session(_session_header(response), None)
        request_id = message["id"]

        async def answer() -> None:
            await self._answer(request_id, response)

        self._spawn(request_id, answer())

    async def _exchange(self, message: Message, request_id: Any) -> None:
        try:
            response = await self._post_in_session(message)
        except _Failed as failure:
            await self._deliver(upstream_error(self.name, request_id, failure.detail), request_id)
            return
        except NETWORK_ERRORS as exc:
            detail = describe_failure(exc, self._shown)
            await self._deliver(upstream_error(self.name, request_id, detail), request_id)
            return
        await self._answer(request_id, response)

    async def _modern_exchange(self, message: Message, request_id: Any, version: str) -> None:
        """One 2026-07-28 request: its own POST, no session; cancelled by closing it."""
        headers = {**self._modern_headers, **request_headers(message, version)}
        params = message.get("params") or {}
        watch = None
        if message["method"] == "tools/call":
            headers.update(
                param_headers(self._tool_schemas.get(str(params.get("name"))), params.get("arguments"))
            )
        elif message["method"] == "tools/list":
            watch = self._learn_tool_schemas
        try:
            response = await self._post(message, headers)
        except NETWORK_ERRORS as exc:
            detail = describe_failure(exc, self._shown)
            await self._deliver(upstream_error(self.name, request_id, detail), request_id)
            return
        try:
            await self._answer(request_id, response, resumable=False, watch=watch)
        except asyncio.CancelledError:
            response.close()  # the connection goes with it: the server sees the stream closed
            raise

    def _learn_tool_schemas(self, message: Message) -> None:
        """Keep the input schemas that ask for ``Mcp-Param-*`` headers (x-mcp-header)."""
        for tool in (message.get("result") or {}).get("tools") or ():
            if isinstance(tool, dict) and annotated(tool.get("inputSchema")):
                self._tool_schemas[str(tool.get("name"))] = tool["inputSchema"]

    async def _answer(
        self,
        request_id: Any,
        response: aiohttp.ClientResponse,
        *,
        resumable: bool = True,
        watch: Callable[[Message], None] | None = None,
    ) -> None:
        """Relay what ``response`` carries for ``request_id``; deliver an error if the answer
        cannot come, so the caller never hangs."""

        async def deliver(message: Message) -> None:
            if watch is not None and "method" not in message:
                watch(message)
            await self._deliver(message, request_id)

        try:
            await self._read_answer(response, request_id, deliver, resumable=resumable)
        except ProtocolViolation as exc:
            await deliver(UpstreamBrokeProtocol(self.name, exc.detail).to_message(request_id))
        except _Failed as failure:
            error = upstream_error(self.name, request_id, failure.detail, status=failure.status)
            await deliver(error)
        except (*NETWORK_ERRORS, MessageTooLarge) as exc:
            await deliver(upstream_error(self.name, request_id, describe_failure(exc, self._shown)))
        except Exception as exc:  # boundary: a bug here must still answer the call
            log.exception("[%s] reading the answer to %r failed", self.name, request_id)
            await deliver(
                error_message(
                    request_id, INTERNAL_ERROR, f"gateway failed reading the answer: {exc!r}", fault="gateway"
                )
            )
        finally:
            response.release()

    async def _post_in_session(self, message: Message) -> aiohttp.ClientResponse:
        """POST; if the server forgot our session, re-initialize once and POST again."""
        generation, sent_session = self._generation, self._session_id
        response = await self._post(message)
        if response.status != 404 or sent_session is None:
            return response
        response.release()
        await self._renew(generation)
        response = await self._post(message)
        if response.status == 404:
            response.release()
            raise _Failed(
                f"answered 404 (session not found) again right after a fresh initialize ({self._shown})", 404
            )
        return response

    async def _read_answer(
        self, response: aiohttp.ClientResponse, request_id: Any, deliver: Deliver, *, resumable: bool = True
    ) -> None:
        status = response.status
        if status != 200:
            await self._status_failure(response, request_id, deliver)
            return
        content_type = response.content_type
        if content_type == JSON:
            async with asyncio.timeout(self._timeout):
                body = await read_limited(response, self._limit)
            answered = False
            for message in decode_messages(body, self.name):
                answered = answered or _answers(message, request_id)
                await deliver(message)
            if not answered:
                raise _Failed(f"answered without a response to the request ({self._shown})")
            return
        if content_type != EVENT_STREAM:
            raise _Failed(f"answered with unexpected Content-Type {content_type!r} ({self._shown})")
        parser = SseParser(self._limit)
        answered, broke = await self._relay(response, parser, request_id, deliver)
        response.release()
        fruitless = 0
        while not answered:
            cause = f"its event stream for the request {broke or 'ended'}"
            if parser.last_event_id is None or not resumable:
                raise _Failed(f"{cause} before the response ({self._shown})")
            if fruitless >= (_FRUITLESS_POLLS if parser.retry is not None else _FRUITLESS_RESUMES):
                raise _Failed(
                    f"{cause} before the response, and resuming it with Last-Event-ID did not bring "
                    f"the response ({self._shown})"
                )
            if parser.retry:
                await asyncio.sleep(min(parser.retry / 1000, self._reconnect_max))
            before = parser.events
            resumed = await self._get(parser.last_event_id)
            try:
                if resumed.status != 200 or resumed.content_type != EVENT_STREAM:
                    raise _Failed(
                        f"{cause} before the response, and resuming it was refused "
                        f"(HTTP {resumed.status} from {self._shown})",
                        resumed.status,
                    )
                answered, broke = await self._relay(resumed, parser, request_id, deliver)
            finally:
                resumed.release()
            fruitless = 0 if parser.events > before else fruitless + 1

    async def _relay(
        self, response: aiohttp.ClientResponse, parser: SseParser, request_id: Any, deliver: Deliver
    ) -> tuple[bool, str | None]:
        """Relay events as they arrive; (answered, how the stream broke if it did)."""
        answered = False
        try:
            async for chunk in response.content.iter_any():
                for event in parser.feed(chunk):
                    if event.event != "message":
                        continue
                    for message in decode_messages(event.data, self.name):
                        if not answered and _answers(message, request_id):
                            answered = True
                        await deliver(message)
        except NETWORK_ERRORS as exc:
            if answered:
                log.debug("[%s] stream broke after the answer: %s", self.name, exc)
                return True, None
            return False, "broke off" if not isinstance(exc, TimeoutError) else "went idle too long"
        return answered, None

    async def _status_failure(
        self, response: aiohttp.ClientResponse, request_id: Any, deliver: Deliver
    ) -> None:
        status = response.status
        if status == 202:
            raise _Failed(f"accepted the request (HTTP 202) but sent no response ({self._shown})", status)
        if status >= 400:
            error = await error_body(response)
            if error is not None:
                await deliver(forward_error(request_id, error, status))
                return
        raise _Failed(status_detail(response, self._shown), status)

    # --- session --------------------------------------------------------------------------------

    async def _renew(self, stale_generation: int) -> None:
        """Re-initialize after a 404: replay the connection's own initialize (under an id of
        ours, so its answer stays here) and ``notifications/initialized``. One renewal serves
        every request that saw the same stale session."""
        async with self._renew_lock:
            if self._generation != stale_generation:
                return
            if self._initialize is None or self._closed is not None:
                raise _Failed(f"forgot our session and it cannot be re-initialized ({self._shown})", 404)
            log.warning("[%s] upstream %s forgot our session; initializing a new one", self.name, self._shown)
            old_version = self._protocol_version
            self._set_session(None, None)
            self._renewals += 1
            request_id = f"portcullis-reinitialize-{self._renewals}"
            message = {**self._initialize, "id": request_id}
            answers: list[Message] = []

            async def keep(received: Message) -> None:
                if _answers(received, request_id):
                    answers.append(received)
                else:
                    await self._deliver(received, None)

            try:
                response = await self._post(message)
                try:
                    session_id = _session_header(response)
                    await self._read_answer(response, request_id, keep)
                finally:
                    response.release()
            except (*NETWORK_ERRORS, MessageTooLarge) as exc:
                raise _Failed(
                    f"forgot our session, and re-initializing failed: {describe_failure(exc, self._shown)}"
                ) from exc
            except _Failed as failure:
                raise _Failed(f"forgot our session, and re-initializing failed: {failure.detail}") from None
            except ProtocolViolation as exc:
                raise _Failed(
                    f"forgot our session, and its new initialize broke the protocol: {exc.detail}"
                ) from None
            answer = answers[0] if answers else {}
            result = answer.get("result")
            if not isinstance(result, dict):
                reason = (answer.get("error") or {}).get("message", "no result")
                raise _Failed(f"forgot our session and refused a new initialize: {reason}")
            version = result.get("protocolVersion")
            if version != old_version:
                log.warning(
                    "[%s] the new session speaks protocol %s, not %s", self.name, version, old_version
                )
            self._set_session(session_id, version if isinstance(version, str) else old_version)
            try:
                await self._post_one_way(
                    {"jsonrpc": "2.0", "method": "notifications/initialized"}, handshake=True
                )
            except TransportClosed as exc:
                raise _Failed(f"forgot our session, and re-initializing failed: {exc.detail}") from None
            self._generation += 1
            self._renewed.set()
            log.info("[%s] re-initialized with %s", self.name, self._shown)

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
                async with http.delete(self._url, headers=headers, allow_redirects=False) as response:
                    log.debug("[%s] DELETE session: HTTP %d", self.name, response.status)
        except NETWORK_ERRORS as exc:
            log.debug("[%s] DELETE session failed: %s", self.name, exc)

    # --- the server's own stream ----------------------------------------------------------------

    def _start_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name=f"listen:{self.name}")

    async def _listen(self) -> None:
        """Hold the GET stream open, reconnecting with backoff and Last-Event-ID. A 405 means the
        server offers none. A 404 on a session whose stream worked means the server forgot it:
        re-initialize (the same single renewal requests would do)."""
        delay = _BACKOFF_INITIAL
        parser = SseParser(self._limit)
        generation = self._generation
        worked = False
        while self._closed is None:
            if generation != self._generation:
                parser, generation, worked = SseParser(self._limit), self._generation, False
            self._renewed.clear()
            try:
                response = await self._get(parser.last_event_id)
                try:
                    status = response.status
                    if status == 405:
                        log.debug("[%s] server offers no GET stream (405)", self.name)
                        return
                    if status == 404 and not worked:
                        log.info("[%s] server answered the GET stream with 404; not listening", self.name)
                        return
                    if status == 404:
                        response.release()
                        try:
                            await self._renew(generation)
                            continue
                        except _Failed as failure:
                            log.warning("[%s] %s", self.name, failure.detail)
                    elif status != 200 or response.content_type != EVENT_STREAM:
                        log.warning(
                            "[%s] server stream: HTTP %d (%s); retrying",
                            self.name,
                            status,
                            response.content_type,
                        )
                    else:
                        worked = True
                        before = parser.events
                        await self._relay_unprompted(response, parser)
                        if parser.events > before:
                            delay = _BACKOFF_INITIAL
                finally:
                    response.release()
            except MessageTooLarge as exc:
                log.warning("[%s] server stream %s", self.name, exc)
            except NETWORK_ERRORS as exc:
                log.debug("[%s] server stream dropped: %s", self.name, describe_failure(exc, self._shown))
            wait = min(parser.retry / 1000, self._reconnect_max) if parser.retry is not None else delay
            delay = min(delay * 2, self._reconnect_max)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._renewed.wait(), wait)

    async def _relay_unprompted(self, response: aiohttp.ClientResponse, parser: SseParser) -> None:
        async for chunk in response.content.iter_any():
            for event in parser.feed(chunk):
                if event.event != "message":
                    continue
                try:
                    messages = decode_messages(event.data, self.name)
                except ProtocolViolation as exc:
                    log.warning("[%s] dropped a message of the server stream: it %s", self.name, exc.detail)
                    continue
                for message in messages:
                    await self._deliver(message, None)

    # --- plumbing -------------------------------------------------------------------------------

    def _failure(self, exc: BaseException) -> str:
        return describe_failure(exc, self._shown)

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise TransportClosed("not connected")
        return self._http

    async def _post(self, message: Message, headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        """POST one message; returns once the status and headers are in (within ``timeout``)."""
        body = orjson.dumps(message)
        async with asyncio.timeout(self._timeout):
            return await self._client().post(
                self._url,
                data=body,
                headers=headers if headers is not None else self._post_headers,
                allow_redirects=False,
                timeout=self._stream_timeout,
            )

    async def _get(self, last_event_id: str | None) -> aiohttp.ClientResponse:
        headers = {**self._post_headers, "Accept": EVENT_STREAM}
        del headers["Content-Type"]
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        async with asyncio.timeout(self._timeout):
            return await self._client().get(
                self._url, headers=headers, allow_redirects=False, timeout=self._stream_timeout
            )

    async def _post_one_way(self, message: Message, *, handshake: bool) -> None:
        """POST a notification or response; the server accepts it with 202. During the handshake
        a failure fails the connection; afterwards it is logged (nothing waits for it)."""
        try:
            response = await self._post(message)
        except NETWORK_ERRORS as exc:
            detail = describe_failure(exc, self._shown)
        else:
            async with response:
                if response.status in (200, 202, 204):
                    return
                detail = status_detail(response, self._shown)
        what = message.get("method") or "a response"
        if handshake:
            raise TransportClosed(f"did not accept {what}: {detail}")
        log.warning("[%s] upstream did not accept %s: %s", self.name, what, detail)

    async def _deliver(self, message: Message, related: Any) -> None:
        if self._initialize_id is not None and _answers(message, self._initialize_id):
            self._initialize_id = None
            result = message.get("result")
            if isinstance(result, dict) and isinstance(result.get("protocolVersion"), str):
                self._set_session(self._session_id, result["protocolVersion"])
        await self._queue.put((message, related))

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


def _modern_version(message: Message) -> str | None:
    """The 2026-07-28 version a request declares in its ``_meta``, if it is a modern one."""
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    version = meta.get(META_PROTOCOL_VERSION) if isinstance(meta, dict) else None
    return version if isinstance(version, str) and is_modern(version) else None


def _session_header(response: aiohttp.ClientResponse) -> str | None:
    value = response.headers.get("Mcp-Session-Id")
    if value is None or not value or not all(0x21 <= ord(c) <= 0x7E for c in value):
        return None
    return value


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

    async def send(self, message: Message) -> None:
        if self._decided or message.get("method") != "initialize":
            await self._current.send(message)
            return
        try:
            await self._streamable.send(message)
        except NotStreamableHttp as probe:
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
            await legacy.send(message)
        self._decided = True

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
) -> Transport:
    """A fresh, unconnected transport for an HTTP upstream, as settings choose it."""
    options: dict[str, Any] = {
        "headers": headers,
        "timeout": timeout,
        "sse_read_timeout": sse_read_timeout,
        "ssl_context": ssl_context,
        "max_message_bytes": max_message_bytes,
    }

    def legacy() -> LegacySseTransport:
        return LegacySseTransport(name, url, **options)

    if transport == "sse":
        return legacy()
    if transport == "streamable-http":
        return StreamableHttpTransport(name, url, **options)
    return AutoTransport(StreamableHttpTransport(name, url, detect_legacy=True, **options), legacy)
