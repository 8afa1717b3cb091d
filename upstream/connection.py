"""One long-lived MCP session with an upstream server, shared by many gateway calls.

Ids are remapped both ways: each upstream request gets our own integer id, and the response
is handed back to the caller, who puts the client's id on it. Progress tokens are rewritten to
that same integer, so progress from a shared upstream reaches the right call and two clients
using the same token can never clash.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from middleware.protocol import (
    METHOD_NOT_FOUND,
    UPSTREAM_UNAVAILABLE,
    Event,
    Message,
    error_message,
    result_message,
)
from upstream.transport import Transport, TransportClosed

log = logging.getLogger("portcullis.upstream")

HANDSHAKE_VERSIONS: Final = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
"""Versions we can speak to an upstream in the initialize era, newest first."""

NotificationSink = Callable[[str, Message], None]
"""Receives upstream notifications not tied to a call: (server name, message)."""

CallSink = Callable[[Event], Awaitable[None]]
"""Receives the events of one call (progress and other related notifications)."""


class UpstreamError(Exception):
    """The upstream could not answer; always the upstream's fault, never the client's."""

    def __init__(self, server: str, detail: str, *, code: int = UPSTREAM_UNAVAILABLE) -> None:
        super().__init__(f"upstream server {server!r} {detail}")
        self.server = server
        self.detail = detail
        self.code = code


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Message]
    sink: CallSink | None
    client_token: Any


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """What the upstream said about itself at initialize."""

    protocol_version: str
    capabilities: dict[str, Any]
    server_info: dict[str, Any]
    instructions: str | None


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
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed_reason: str | None = None
        self.closed: asyncio.Event = asyncio.Event()
        self.identity: ServerIdentity | None = None

    @property
    def closed_reason(self) -> str | None:
        return self._closed_reason

    async def open(self) -> ServerIdentity:
        """Connect and run the initialize handshake.

        We declare no client capabilities: relaying server-to-client requests (sampling,
        elicitation, roots) needs the client's own capabilities, which a shared upstream
        session cannot speak for.
        """
        try:
            await self._transport.connect()
        except TransportClosed as exc:
            self._mark_closed(exc.detail)
            raise UpstreamError(self.name, exc.detail) from exc
        self._reader = asyncio.create_task(self._read_loop(), name=f"upstream:{self.name}")
        response = await self.request(
            "initialize",
            {
                "protocolVersion": HANDSHAKE_VERSIONS[0],
                "capabilities": {},
                "clientInfo": self._client_info,
            },
        )
        if "error" in response:
            error = response["error"]
            raise UpstreamError(self.name, f"refused initialize: {error.get('message')}")
        result = response.get("result") or {}
        version = result.get("protocolVersion")
        if version not in HANDSHAKE_VERSIONS:
            raise UpstreamError(self.name, f"answered initialize with unsupported version {version!r}")
        self.identity = ServerIdentity(
            protocol_version=version,
            capabilities=dict(result.get("capabilities") or {}),
            server_info=dict(result.get("serverInfo") or {}),
            instructions=result.get("instructions"),
        )
        await self.notify("notifications/initialized")
        return self.identity

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        sink: CallSink | None = None,
    ) -> Message:
        """Send a request and return the upstream's response message (its id is ours).

        Cancelling the awaiting task sends ``notifications/cancelled`` upstream.
        """
        if self._closed_reason is not None:
            raise UpstreamError(self.name, self._closed_reason)
        upstream_id = next(self._ids)
        client_token = None
        if params is not None:
            meta = params.get("_meta")
            if isinstance(meta, dict) and "progressToken" in meta:
                client_token = meta["progressToken"]
                params = {**params, "_meta": {**meta, "progressToken": upstream_id}}
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[upstream_id] = _Pending(future, sink, client_token)
        message: Message = {"jsonrpc": "2.0", "id": upstream_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            await self._transport.send(message)
            return await future
        except TransportClosed as exc:
            self._mark_closed(exc.detail)
            raise UpstreamError(self.name, exc.detail) from exc
        except asyncio.CancelledError:
            if upstream_id in self._pending and self._closed_reason is None:
                self._pending.pop(upstream_id)
                await self._send_cancel(upstream_id)
            raise
        finally:
            self._pending.pop(upstream_id, None)

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
        await self._transport.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _send_cancel(self, upstream_id: int) -> None:
        with contextlib.suppress(UpstreamError):
            await self.notify(
                "notifications/cancelled",
                {"requestId": upstream_id, "reason": "cancelled by the gateway"},
            )

    async def _read_loop(self) -> None:
        try:
            while True:
                message, related = await self._transport.receive()
                await self._dispatch(message, related)
        except TransportClosed as exc:
            self._mark_closed(exc.detail)
        except Exception as exc:  # boundary: a reader bug must still fail the calls, not hang them
            log.exception("[%s] upstream reader failed", self.name)
            self._mark_closed(f"reader failed: {exc!r}")

    async def _dispatch(self, message: Message, related: Any) -> None:
        if "method" not in message:
            pending = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
            if pending is not None and not pending.future.done():
                pending.future.set_result(message)
            return
        method = message["method"]
        if "id" in message:
            await self._answer_server_request(message)
        elif method == "notifications/progress":
            await self._relay_progress(message)
        else:
            self._on_notification(self.name, message)

    async def _relay_progress(self, message: Message) -> None:
        params = message.get("params") or {}
        token = params.get("progressToken")
        pending = self._pending.get(token) if isinstance(token, int) else None
        if pending is None or pending.sink is None:
            return
        relayed = {**message, "params": {**params, "progressToken": pending.client_token}}
        try:
            await pending.sink({"type": "mcp.notification", "message": relayed})
        except Exception:  # boundary: a gone client must not stop the reader for everyone
            log.debug("[%s] progress for a departed call dropped", self.name)

    async def _answer_server_request(self, message: Message) -> None:
        if message["method"] == "ping":
            reply = result_message(message["id"], {})
        else:
            reply = error_message(
                message["id"],
                METHOD_NOT_FOUND,
                f"the gateway does not relay {message['method']!r} to clients",
            )
        try:
            await self._transport.send(reply)
        except TransportClosed as exc:
            self._mark_closed(exc.detail)

    def _mark_closed(self, reason: str) -> None:
        if self._closed_reason is not None:
            return
        self._closed_reason = reason
        pending, self._pending = self._pending, {}
        for call in pending.values():
            if not call.future.done():
                call.future.set_exception(UpstreamError(self.name, reason))
        self.closed.set()
