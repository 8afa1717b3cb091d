"""One long-lived MCP session with an upstream server, shared by many gateway calls.

Ids are remapped both ways: each upstream request gets our own integer id, and the response
is handed back to the caller, who puts the client's id on it. Progress tokens are rewritten to
that same integer, so progress from a shared upstream reaches the right call and two clients
using the same token can never clash.

The connection is era-neutral: :mod:`upstream.session.handshake` decides the era when it opens, and for
a 2026-07-28 upstream it installs a :class:`ModernPath` through which every request passes (it
writes the per-request ``_meta`` and answers what the initialize era did per session). A
cancelled call is cancelled upstream with ``notifications/cancelled``, except on a modern
upstream over a transport with a stream per request, where closing that stream is the signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from middleware.protocol import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    META_SUBSCRIPTION_ID,
    REQUEST_CANCELLED,
    UPSTREAM_TRACE,
    Message,
    error_message,
    result_message,
)
from upstream.errors import (
    ProtocolViolation,
    SessionExpired,
    TransportClosed,
    UpstreamBrokeProtocol,
    UpstreamError,
)
from upstream.session.call_table import CallTable
from upstream.session.calls import (
    CLIENT_CAPABILITIES,
    CallChannel,
    ModernPath,
    NotificationSink,
    Pending,
    ServerIdentity,
)
from upstream.session.era import HANDSHAKE_VERSIONS
from upstream.session.outbox import Outbox
from upstream.session.renewal import SessionRenewal
from upstream.transports.base import STREAM_PER_REQUEST, Transport

log = logging.getLogger("portcullis.upstream")

__all__ = [
    "CLIENT_CAPABILITIES",
    "HANDSHAKE_VERSIONS",
    "CallChannel",
    "NotificationSink",
    "ServerIdentity",
    "UpstreamConnection",
]


class UpstreamConnection:
    def __init__(
        self,
        name: str,
        transport: Transport,
        *,
        client_info: dict[str, Any],
        on_notification: NotificationSink,
    ) -> None:
        self.name = name
        self._transport = transport
        self._client_info = client_info
        self._on_notification = on_notification
        self._calls = CallTable(name)
        self._reader: asyncio.Task[None] | None = None
        self._closed_reason: str | None = None
        self._served: dict[Any, asyncio.Task[None]] = {}
        self.closed: asyncio.Event = asyncio.Event()
        self.identity: ServerIdentity | None = None
        self._modern: ModernPath | None = None
        self.default_channel: CallChannel | None = None
        """Where unsolicited server requests go when this connection serves one client."""
        self.renewal: SessionRenewal | None = None
        """Set by the initialize handshake: how to start a new session when one is forgotten."""
        self._renewing: set[asyncio.Task[None]] = set()

    @property
    def closed_reason(self) -> str | None:
        return self._closed_reason

    def check_alive(self) -> bool:
        """False once closed. Asks a stdio transport's process too: a server whose process
        ended while something else holds its stdout open would otherwise look alive; this
        closes the connection then, so its calls fail and its supervisor restarts it."""
        transport = self._transport
        if self._closed_reason is None:
            ended = transport.ended()
            if ended is not None:
                self._mark_closed(ended)
        return self._closed_reason is None

    @property
    def description(self) -> str:
        """How the transport describes itself in logs (a pid, a URL)."""
        return self._transport.description

    @property
    def modern(self) -> ModernPath | None:
        """The modern request path, once the handshake found a 2026-07-28 upstream."""
        return self._modern

    async def connect(self) -> None:
        """Connect the transport and start reading; the handshake comes next."""
        try:
            await self._transport.connect()
        except TransportClosed as exc:
            self._mark_closed(exc.detail)
            raise UpstreamError(self.name, exc.detail) from exc
        self._reader = asyncio.create_task(self._read_loop(), name=f"upstream:{self.name}")

    def adopt(self, identity: ServerIdentity, modern: ModernPath | None = None) -> None:
        """What the handshake learnt: the server's identity, and its request path if modern."""
        self.identity = identity
        self._modern = modern
        if modern is not None:
            modern.start()

    def deliver_unsolicited(self, message: Message) -> None:
        """Hand a notification that belongs to no call to the connection's sink."""
        self._on_notification(self.name, message)

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        channel: CallChannel | None = None,
    ) -> Message:
        """Send a request and return the upstream's response message (its id is ours), in the
        upstream's era. Cancelling the awaiting task cancels the call upstream."""
        if self._modern is not None:
            return await self._modern.request(method, params, channel)
        return await self.send_request(method, params, channel=channel)

    async def send_request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        channel: CallChannel | None = None,
        patience: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Message:
        """Send one request as it is (``headers``: extra HTTP headers for it, see the transport).
        Past ``patience`` seconds it raises :class:`TimeoutError` and forgets the request without
        telling the upstream (a late answer is dropped)."""
        if self._closed_reason is not None:
            raise UpstreamError(self.name, self._closed_reason)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        upstream_id, pending = self._calls.open(method, params, channel, future, headers)
        message = pending.message
        assert message is not None
        answer: Message | None = None
        try:
            await self._transport.send(message, headers)
            answer = await asyncio.wait_for(future, patience) if patience is not None else await future
            if pending.outbox is not None:
                await pending.outbox.flush()  # its notifications reach the client before its answer
            return answer
        except TransportClosed as exc:
            self._calls.pending.pop(upstream_id, None)  # failed here: no one would await its future
            self._mark_closed(exc.detail)
            raise UpstreamError(self.name, exc.detail) from exc
        except asyncio.CancelledError:
            if upstream_id in self._calls.pending and self._closed_reason is None:
                self._calls.pending.pop(upstream_id)
                await self._cancel_upstream(upstream_id)
            raise
        finally:
            self._calls.pending.pop(upstream_id, None)
            if pending.outbox is not None:
                pending.outbox.close()
            trace = UPSTREAM_TRACE.get()
            if trace is not None:  # the upstream span ends with the upstream's part of the call
                trace.answered(upstream_id, answer)

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: Message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        try:
            await self._transport.send(message)
        except TransportClosed as exc:
            self._mark_closed(exc.detail)
            raise UpstreamError(self.name, exc.detail) from exc

    async def close(self) -> None:
        self._mark_closed("was shut down by the gateway")
        if self._modern is not None:
            await self._modern.close()
        await self._transport.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _cancel_upstream(self, upstream_id: int) -> None:
        """Tell the upstream a call is off: closing its answer stream says it to a modern
        upstream over HTTP; anything else gets ``notifications/cancelled``."""
        transport = self._transport
        modern_http = self._modern is not None and STREAM_PER_REQUEST in transport.features
        if modern_http and transport.abandon(upstream_id):
            return
        with contextlib.suppress(UpstreamError):
            await self.notify(
                "notifications/cancelled",
                {"requestId": upstream_id, "reason": "cancelled by the gateway"},
            )

    async def _read_loop(self) -> None:
        try:
            while True:
                try:
                    message, related = await self._transport.receive()
                except SessionExpired as expired:
                    task = asyncio.create_task(self._renew_and_resend(expired))
                    self._renewing.add(task)
                    task.add_done_callback(self._renewing.discard)
                    continue
                self._dispatch(message, related)
                del message, related  # not kept alive while idle: it may be a 10 MB result
        except ProtocolViolation as exc:
            log.error("[%s] upstream broke the protocol: %s", self.name, exc.detail)
            self._mark_closed(exc.detail, broke=True)
        except TransportClosed as exc:
            self._mark_closed(exc.detail)
        except Exception as exc:  # boundary: a reader bug must still fail the calls, not hang them
            log.exception("[%s] upstream reader failed", self.name)
            self._mark_closed(f"reader failed: {exc!r}")

    async def _renew_and_resend(self, expired: SessionExpired) -> None:
        """The upstream forgot our session: start a new one and send the request once more
        (a request that meets a forgotten session twice in a row fails)."""
        request_id = expired.request_id
        pending = self._calls.pending.get(request_id) if request_id is not None else None
        where = self._transport.description
        if pending is not None and pending.retried:
            detail = f"answered 404 (session not found) again right after a fresh initialize ({where})"
            self._calls.fail(request_id, UpstreamError(self.name, detail, data={"status": 404}))
            return
        try:
            if self.renewal is None:
                raise UpstreamError(self.name, f"cannot be re-initialized ({where})")
            await self.renewal.renew(expired.session_id, where)
        except UpstreamError as exc:
            detail = f"forgot our session, and re-initializing failed: {exc.detail}"
            if pending is None:
                log.warning("[%s] %s", self.name, detail)
            self._calls.fail(request_id, UpstreamError(self.name, detail))
            return
        if pending is None or pending.message is None or self._calls.pending.get(request_id) is not pending:
            return
        pending.retried = True
        try:
            await self._transport.send(pending.message, pending.headers)
        except TransportClosed as exc:
            self._mark_closed(exc.detail)

    def _dispatch(self, message: Message, related: Any) -> None:
        if "method" not in message:
            self._calls.answered(message)
            return
        method = message["method"]
        if "id" in message:
            task = asyncio.create_task(self._serve_server_request(message, related))
            self._served[message["id"]] = task
            task.add_done_callback(lambda _: self._served.pop(message["id"], None))
        elif method == "notifications/progress":
            if (found := self._calls.progress(message)) is not None:
                self._tell(*found)
        elif method == "notifications/cancelled":
            self._cancelled_by_server(message.get("params") or {})
        elif related is None and self._modern is not None:
            # stdio: a listen stream's notifications say which stream they belong to
            related = _subscription_of(message)
            call = self._calls.call_of(related) if related is not None else None
            if call is not None:
                self._tell(call, message)
            else:
                self._unrelated(method, message)
        elif related is not None and (call := self._calls.call_of(related)) is not None:
            self._tell(call, message)
        else:
            self._unrelated(method, message)

    def _unrelated(self, method: str, message: Message) -> None:
        """A notification that names no call (stdio, either era): to the sink, and a log
        message also to the 2026-07-28 client of the only call in flight, which hears logs
        only on its call's stream (that call is the one logging)."""
        if method == "notifications/message" and (call := self._calls.lone_modern_call()) is not None:
            self._tell(call, message)
        self._on_notification(self.name, message)

    def _cancelled_by_server(self, params: dict[str, Any]) -> None:
        """The server cancels its own request to us (legacy), or ends a listen stream (modern)."""
        request_id = params.get("requestId")
        served = self._served.get(request_id)
        if served is not None:
            served.cancel()
            return
        pending = (
            self._calls.pending.pop(request_id, None)
            if isinstance(request_id, int) and self._modern
            else None
        )
        if pending is not None and not pending.future.done():
            reason = str(params.get("reason") or "the server ended it")
            pending.future.set_result(error_message(request_id, REQUEST_CANCELLED, reason, fault="upstream"))

    def _tell(self, call: Pending, message: Message) -> None:
        """Queue ``message`` for the call's client: the reader never waits on one client."""
        outbox = call.outbox
        if outbox is None:
            assert call.channel is not None
            outbox = call.outbox = Outbox(self.name, call.channel)
        outbox.put(message)

    async def _serve_server_request(self, message: Message, related: Any) -> None:
        """Answer a server-to-client request, relaying it to the client it belongs to."""
        request_id = message["id"]
        method = message["method"]
        if method == "ping":
            reply = result_message(request_id, {})
        elif (channel := self._calls.channel_for(related, self.default_channel)) is None:
            reply = error_message(
                request_id,
                INVALID_REQUEST,
                f"the gateway cannot tell which client {method!r} is for: this upstream session "
                "is shared and has several calls (or none) in flight; set session_mode = "
                '"per_client" for this server',
            )
        else:
            try:
                answer = await channel.ask(message)
            except asyncio.CancelledError:
                return  # the server cancelled its own request: no reply is due
            except Exception as exc:  # boundary: the upstream must get an answer, not silence
                log.exception("[%s] relaying %s failed", self.name, method)
                answer = error_message(None, INTERNAL_ERROR, f"the gateway could not relay it: {exc}")
            reply = {**answer, "jsonrpc": "2.0", "id": request_id}
        try:
            await self._transport.send(reply)
        except TransportClosed as exc:
            self._mark_closed(exc.detail)

    def _mark_closed(self, reason: str, *, broke: bool = False) -> None:
        """Fail every call in flight at once with ``reason``; ``broke`` when the upstream broke
        the protocol (``reason`` says how), which ends the session as a crash does."""
        if self._closed_reason is not None:
            return
        problem = reason
        if broke:
            reason = f"broke the protocol: {problem}"
        self._closed_reason = reason
        for task in [*self._served.values(), *self._renewing]:
            task.cancel()
        self._calls.fail_all(
            UpstreamBrokeProtocol(self.name, problem) if broke else UpstreamError(self.name, reason)
        )
        self.closed.set()


def _subscription_of(message: Message) -> Any:
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta.get(META_SUBSCRIPTION_ID) if isinstance(meta, dict) else None
