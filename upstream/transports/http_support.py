"""What the HTTP transports share: their configuration and queue of received messages, TLS
contexts, the pooled client session, and error descriptions that never show credentials. The
SSE parser is :mod:`upstream.transports.sse` (re-exported here).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from typing import Any, Final

import aiohttp
import orjson
from yarl import URL

from middleware.protocol import META_PROTOCOL_VERSION, UPSTREAM_UNAVAILABLE, Message, error_message, is_modern
from upstream.errors import CredentialsRefused
from upstream.transports.base import ProtocolViolation, Received, SessionExpired, TransportClosed
from upstream.transports.envelope import screen
from upstream.transports.http_auth import DEFAULT_HINT, CredentialsUnavailable, HttpAuth, authorized
from upstream.transports.sse import DEFAULT_MAX_MESSAGE_BYTES, MessageTooLarge, SseEvent, SseParser

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "EVENT_STREAM",
    "JSON",
    "NETWORK_ERRORS",
    "HttpTransportBase",
    "MessageTooLarge",
    "SseEvent",
    "SseParser",
]

EVENT_STREAM: Final = "text/event-stream"
JSON: Final = "application/json"
MANAGED_HEADERS: Final = frozenset(
    {"accept", "content-type", "content-length", "host", "mcp-session-id", "mcp-protocol-version",
     "last-event-id", "transfer-encoding", "connection"}
)  # fmt: skip
"""Headers the transports set themselves; a server's configured ``headers`` may not."""

log = logging.getLogger("portcullis.upstream")


def safe_url(url: str | URL) -> str:
    """The URL as it may be shown: no user, password, query or fragment."""
    parsed = URL(url)
    return str(parsed.with_user(None).with_query(None).with_fragment(None))


def same_origin(a: URL, b: URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def tls_context(
    *,
    ca_bundle: str | None = None,
    client_cert: str | None = None,
    client_key: str | None = None,
    verify: bool = True,
) -> ssl.SSLContext:
    """A client TLS context: the system CAs (or ``ca_bundle``), optionally a client certificate
    for mutual TLS. Raises :class:`OSError` or :class:`ssl.SSLError` for unusable files."""
    context = ssl.create_default_context(cafile=ca_bundle) if verify else ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        context.load_cert_chain(client_cert, client_key)
    return context


def client_session(
    *,
    timeout: float,
    ssl_context: ssl.SSLContext | None,
    limit: int = 100,
    user_agent: str = "portcullis",
    unix_socket: str | None = None,
) -> aiohttp.ClientSession:
    """One pooled keep-alive session per transport; redirects are not followed (see callers).
    With ``unix_socket``, every request goes to that socket whatever the URL's host."""
    connector: aiohttp.BaseConnector
    if unix_socket is not None:
        connector = aiohttp.UnixConnector(path=unix_socket, limit=limit, keepalive_timeout=30)
    else:
        connector = aiohttp.TCPConnector(
            limit=limit,
            ssl=ssl_context if ssl_context is not None else True,
            keepalive_timeout=30,
            enable_cleanup_closed=False,
        )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout),
        headers={"User-Agent": user_agent},
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # load-balancer affinity, even on an IP URL
        trust_env=False,
        auto_decompress=True,
    )


def describe_failure(exc: BaseException, url: str) -> str:
    """What went wrong reaching ``url`` (already stripped of credentials), in one phrase."""
    if isinstance(exc, CredentialsUnavailable | MessageTooLarge):
        return str(exc)  # says it all, and names no credential
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"failed TLS verification of {url}: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"failed the TLS handshake with {url}: {_ssl_reason(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"could not connect to {url}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return f"did not answer in time ({url})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"closed the connection ({url})"
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno is not None:
        return f"dropped the connection ({url}): {exc.strerror or exc}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"broke off its response ({url})"
    if isinstance(exc, aiohttp.ClientError | OSError):
        detail = str(exc) or type(exc).__name__
        return f"could not be reached at {url}: {detail}"
    return f"failed at {url}: {exc!r}"


def describe_first_contact(exc: BaseException, url: str) -> str:
    """:func:`describe_failure` for the first request of a session, where a TLS server that
    wants a client certificate we did not send (or does not trust) just drops the connection:
    TLS 1.3 reports that only after the handshake, and the client sees a bare reset or EOF."""
    detail = describe_failure(exc, url)
    dropped = isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError) or (
        isinstance(exc, aiohttp.ClientOSError) and not isinstance(exc, aiohttp.ClientConnectorError)
    )
    if dropped and url.startswith("https://"):
        detail += (
            " right after the TLS handshake; a server that requires a client certificate does this "
            "when it gets none or does not trust ours: check `tls.client_cert`"
        )
    return detail


def _ssl_reason(exc: aiohttp.ClientSSLError) -> str:
    cause = getattr(exc, "os_error", None) or exc.__cause__
    reason = getattr(cause, "reason", None)
    if reason:
        return str(reason)
    return str(cause or exc)


def upstream_error(server: str, request_id: object, detail: str, *, status: int | None = None) -> Message:
    """The JSON-RPC error we deliver in place of an answer that cannot come."""
    data = {"status": status} if status is not None else None
    return error_message(
        request_id,
        UPSTREAM_UNAVAILABLE,
        f"upstream server {server!r} {detail}",
        fault="upstream",
        data=data,
    )


_ERROR_BODY_LIMIT: Final = 64 * 1024


def decode_messages(data: bytes | bytearray | memoryview, server: str) -> list[Message]:
    """The JSON-RPC messages in one event or body: an object, or (2025-03-26) a batch, each
    screened (see :func:`~upstream.transports.envelope.screen`). Raises
    :class:`ProtocolViolation` for what is not JSON or cannot be tied to a request."""
    if not len(data) or (not bytes(data[:64]).strip() and bytes(data).isspace()):
        return []
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        log.warning("[%s] sent a message that is not JSON: %.200r", server, bytes(data[:200]))
        raise ProtocolViolation("sent a message that is not JSON") from None
    if type(value) is list and value:
        return [screen(item, server) for item in value]
    return [screen(value, server)]


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes | bytearray:
    """The whole body, refusing more than ``limit`` bytes (whatever Content-Length claims)."""
    length = response.content_length
    if length is not None and length > limit:
        raise MessageTooLarge(limit)
    if length is not None:
        # Filled in place as chunks arrive: one copy of the payload alive, never two.
        filled = bytearray(length)
        view = memoryview(filled)
        end = 0
        async for chunk in response.content.iter_any():
            view[end : end + len(chunk)] = chunk
            end += len(chunk)
        return filled if end == length else filled[:end]
    body = bytearray()
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise MessageTooLarge(limit)
    return bytes(body)


async def error_body(response: aiohttp.ClientResponse) -> dict[str, Any] | None:
    """The JSON-RPC ``error`` object of an HTTP error response, if it carries one."""
    if response.content_type != JSON:
        return None
    try:
        body = await read_limited(response, _ERROR_BODY_LIMIT)
        value = orjson.loads(body)
    except (MessageTooLarge, orjson.JSONDecodeError, aiohttp.ClientError, OSError):
        return None
    error = value.get("error") if isinstance(value, dict) else None
    if (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and isinstance(error.get("message"), str)
    ):
        return error
    return None


def status_detail(
    response: aiohttp.ClientResponse, url: str, hint: str = DEFAULT_HINT, *, renewed: bool = False
) -> str:
    """Why an HTTP status is not the answer we wanted, with the fix where there is one (``hint``
    for refused credentials: what to check, which depends on where they came from; ``renewed``
    when a 401 came again after the credentials were renewed)."""
    status = response.status
    reason = f" {response.reason}" if response.reason else ""
    if status in (401, 403):
        again = ", also after renewing them" if renewed and status == 401 else ""
        return f"refused our credentials (HTTP {status}{reason} from {url}){again}; {hint}"
    if 300 <= status < 400:
        location = response.headers.get("Location")
        where = f" to {safe_url(response.url.join(URL(location)))}" if location else ""
        return f"redirected{where} (HTTP {status} from {url}); set `url` to the final address"
    return f"answered HTTP {status}{reason} ({url})"


def closed_by(response: aiohttp.ClientResponse, detail: str) -> TransportClosed:
    """The end of a transport whose first contact got ``response`` instead of a 200: credentials
    refused, or any other answer."""
    return (CredentialsRefused if response.status in (401, 403) else TransportClosed)(detail)


def forward_error(request_id: object, error: dict[str, Any], status: int) -> Message:
    """An upstream's JSON-RPC error body, addressed to our request and marked as the upstream's."""
    data = error.get("data")
    if data is None or isinstance(data, dict):
        data = {"fault": "upstream", "status": status, **(data or {})}
    return {"jsonrpc": "2.0", "id": request_id, "error": {**error, "data": data}}


NETWORK_ERRORS: Final = (aiohttp.ClientError, OSError, TimeoutError)
"""What talking to an upstream over HTTP may raise when the network or the peer fails."""
QUEUE_SIZE: Final = 1024
_EOF: Final[Received] = ({}, None)


class HttpTransportBase:
    """The part of an HTTP transport that does not depend on which HTTP transport it is: the
    target and its own headers (never ones the gateway manages), its credentials, timeouts, TLS,
    and the queue that ``receive()`` reads, ended by an EOF marker once the transport closes."""

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
        self.name = name
        self._url = URL(url)
        self._shown = safe_url(url)
        self._headers = {
            key: value for key, value in (headers or {}).items() if key.lower() not in MANAGED_HEADERS
        }
        self._timeout = timeout
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_connect=timeout, sock_read=sse_read_timeout
        )
        self._post_timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout)
        """A POST's answer is bounded by our own deadline (and an SSE answer by the relay's idle
        watchdog): aiohttp's ``sock_read`` would re-arm a timer for every chunk of every answer."""
        self.idle_timeout = sse_read_timeout
        """How long an SSE stream may stay silent."""
        self._ssl = ssl_context
        self._limit = max_message_bytes
        self._http: aiohttp.ClientSession | None = None
        self._queue: asyncio.Queue[Received | SessionExpired] = asyncio.Queue(QUEUE_SIZE)
        self._closed: str | None = None
        self._auth = auth
        """Per-request credentials (tokens, secrets from the environment or files), if any."""
        self.hint = auth.hint if auth is not None else DEFAULT_HINT
        """What to check when the server refuses our credentials."""

    def refusal(self, response: aiohttp.ClientResponse, url: str) -> str:
        """:func:`status_detail` for this server: a final 401 came after renewed credentials
        when they are managed (see :func:`~upstream.transports.http_auth.authorized`)."""
        return status_detail(response, url, self.hint, renewed=self._auth is not None)

    async def check_credentials(self) -> None:
        """Get the credentials once before the first request, so that a missing secret or a
        failing token endpoint fails the start, saying which setting to fix."""
        if self._auth is not None:
            try:
                await self._auth.headers()
            except CredentialsUnavailable as exc:
                raise TransportClosed(str(exc)) from exc

    async def _request(
        self, method: str, url: URL, headers: Mapping[str, str], **options: Any
    ) -> aiohttp.ClientResponse:
        """One HTTP request with the server's credentials, if it has managed ones (a 401 earns
        one fresh set and one retry); never following redirects, which could carry our headers
        elsewhere. The caller bounds the wait."""
        http = self._http
        if http is None:
            raise TransportClosed("not connected")
        if self._auth is None:
            return await http.request(method, url, headers=headers, allow_redirects=False, **options)
        return await authorized(
            self._auth,
            lambda extra: http.request(
                method, url, headers={**headers, **extra}, allow_redirects=False, **options
            ),
        )

    async def receive(self) -> Received:
        item = await self._queue.get()
        if item is _EOF:
            self._queue.put_nowait(_EOF)  # for any other reader
            raise TransportClosed(self._closed or "was closed")
        if type(item) is SessionExpired:
            raise item
        return item  # type: ignore[return-value]

    def _push_eof(self) -> None:
        while True:
            try:
                self._queue.put_nowait(_EOF)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()  # nobody reads any more: drop the oldest


def modern_version(message: Message) -> str | None:
    """The 2026-07-28 version a request declares in its ``_meta``, if it is a modern one."""
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    version = meta.get(META_PROTOCOL_VERSION) if isinstance(meta, dict) else None
    return version if isinstance(version, str) and is_modern(version) else None


def session_header(response: aiohttp.ClientResponse) -> str | None:
    """The session id a server gave in its answer, if it is one we may send back (visible ASCII)."""
    value = response.headers.get("Mcp-Session-Id")
    if value is None or not value or not all(0x21 <= ord(c) <= 0x7E for c in value):
        return None
    return value


LEGACY_STATUSES: Final = frozenset({400, 404, 405})
"""Answers to an initialize POST that mean "not a streamable HTTP endpoint" (spec, backwards
compatibility)."""


class NotStreamableHttp(TransportClosed):
    """The initialize POST was answered 400, 404 or 405: maybe a 2024-11-05 HTTP+SSE server."""

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"answered the initialize POST with HTTP {status} ({url})")
        self.status = status
