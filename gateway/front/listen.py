"""``subscriptions/listen``: a modern client's long-lived stream of change notifications.

Each open stream is a live "session" of this replica for delivery purposes only, so the list
changes and resource updates that reach the GET streams of legacy sessions reach it too, with
the same routing; its resource subscriptions go through the MCP tier (the same policy as a
legacy ``resources/subscribe``) and are released when the stream closes, which ends that
session the one way every session ends (:class:`gateway.front.sessions.SessionEnds`).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from typing import Any, Final

from gateway.front.client_stream import no_input, queued, watch_disconnect
from gateway.front.reply import SSE_HEADERS, body_chunk, sse_event
from gateway.front.sessions import EndReason, LiveSessions, SessionEnds, StreamItem
from middleware.protocol import (
    META_SERVER_INFO,
    META_SUBSCRIPTION_ID,
    RESPONSE,
    Event,
    InvalidParams,
    MCPApp,
    MCPScope,
    Message,
    child_scope,
)
from middleware.protocol.http import ASGIReceive, ASGISend

LIST_FLAGS: Final = {
    "toolsListChanged": "notifications/tools/list_changed",
    "promptsListChanged": "notifications/prompts/list_changed",
    "resourcesListChanged": "notifications/resources/list_changed",
}
_STREAM_LIMIT: Final = 1024
_ids = itertools.count(1)


def _filter_problem(wanted: Any) -> str | None:
    if not isinstance(wanted, dict):
        return 'params.notifications must be an object, e.g. {"toolsListChanged": true}'
    for flag in LIST_FLAGS:
        if flag in wanted and not isinstance(wanted[flag], bool):
            return f"notifications.{flag} must be true or false"
    uris = wanted.get("resourceSubscriptions", [])
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        return "notifications.resourceSubscriptions must be a list of resource URIs"
    return None


class Listener:
    def __init__(
        self,
        app: MCPApp,
        live: LiveSessions,
        ends: SessionEnds,
        *,
        path: str,
        keepalive: float,
        server_info: dict[str, Any],
    ) -> None:
        self.app = app
        self.live = live
        self.ends = ends
        self.path = path
        self.keepalive = keepalive
        self.server_info = server_info

    async def listen(self, mcp_scope: MCPScope, receive: ASGIReceive, send: ASGISend) -> None:
        subscription_id = mcp_scope["id"]
        wanted = mcp_scope["params"].get("notifications")
        problem = _filter_problem(wanted)
        if problem is not None:
            raise InvalidParams(problem)
        assert isinstance(wanted, dict)
        stream_key = "listen-" + secrets.token_hex(16)
        live = self.live.get(stream_key, self.path)
        queue: asyncio.Queue[StreamItem] = asyncio.Queue(_STREAM_LIMIT)
        live.stream = queue
        try:
            uris = [
                uri
                for uri in dict.fromkeys(wanted.get("resourceSubscriptions", []))
                if await self._subscribe(mcp_scope, stream_key, uri)
            ]
            methods = {method for flag, method in LIST_FLAGS.items() if wanted.get(flag) is True}
            agreed: dict[str, Any] = {flag: True for flag, method in LIST_FLAGS.items() if method in methods}
            if "resourceSubscriptions" in wanted:
                agreed["resourceSubscriptions"] = uris
            await send({"type": "http.response.start", "status": 200, "headers": list(SSE_HEADERS)})
            tag = {META_SUBSCRIPTION_ID: subscription_id}
            ack = {
                "jsonrpc": "2.0",
                "method": "notifications/subscriptions/acknowledged",
                "params": {"_meta": tag, "notifications": agreed},
            }
            await send(body_chunk(sse_event(ack)))
            ended = await self._relay(queue, methods, set(uris), tag, receive, send)
            if ended:  # the gateway is closing it: say so, as the spec asks
                closing = {
                    "jsonrpc": "2.0",
                    "id": subscription_id,
                    "result": {
                        "resultType": "complete",
                        "_meta": {**tag, META_SERVER_INFO: self.server_info},
                    },
                }
                await send(body_chunk(sse_event(closing)))
            await send(body_chunk(b"", more=False))
        finally:
            await self.ends.end(stream_key, EndReason.LISTEN_CLOSED)

    async def _relay(  # noqa: PLR0917
        self,
        queue: asyncio.Queue[StreamItem],
        methods: set[str],
        uris: set[str],
        tag: dict[str, Any],
        receive: ASGIReceive,
        send: ASGISend,
    ) -> bool:
        """Relay until the client leaves (False) or the gateway ends the stream (True)."""
        disconnected = watch_disconnect(receive)
        try:
            async for item in queued(queue, disconnected, send, self.keepalive):
                if _wanted(item, methods, uris):
                    params = item.get("params") or {}
                    tagged = {**item, "params": {**params, "_meta": {**(params.get("_meta") or {}), **tag}}}
                    await send(body_chunk(sse_event(tagged)))
            return not disconnected.done()
        finally:
            disconnected.cancel()

    async def _subscribe(self, mcp_scope: MCPScope, stream_key: str, uri: str) -> bool:
        """Subscribe the stream to ``uri`` through the MCP tier; False if refused."""
        answer: list[Message] = []

        async def capture(event: Event) -> None:
            if event["type"] == RESPONSE:
                answer.append(event["message"])

        scope = child_scope(
            mcp_scope,
            method="resources/subscribe",
            request_id=f"listen-{next(_ids)}",
            params={"uri": uri},
            session_id=stream_key,
            fresh_state=True,
        )
        await self.app(scope, no_input, capture)
        return bool(answer) and "result" in answer[0]


def _wanted(message: Message, methods: set[str], uris: set[str]) -> bool:
    method = message.get("method")
    if method in methods:
        return True
    if method == "notifications/resources/updated":
        return (message.get("params") or {}).get("uri") in uris
    return False
