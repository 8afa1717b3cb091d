"""The 2026-07-28 front of an MCP endpoint: stateless requests with per-request metadata.

Every request carries its version and the client's capabilities in ``_meta`` and mirrors its
method and name in headers, which are checked against the body before anything else looks at
either. There is no session: calls that need the client mid-way go through
:mod:`gateway.front.mrtr`, change notifications through :mod:`gateway.front.listen`. Whatever era the
upstream speaks, the MCP tier sees the same params; this module translates at the edge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from gateway.front.listen import Listener
from gateway.front.mrtr import (
    Carrier,
    Exchange,
    ModernCall,
    Outcome,
    ParkedCalls,
    Watchdog,
    attach,
    input_required,
    missing_capability_error,
    replay_answers,
)
from gateway.front.reply import Reply
from gateway.front.request_state import (
    InvalidRequestState,
    LedgerUnavailable,
    RequestStates,
    is_ours,
    request_digest,
)
from gateway.front.shutdown import InFlight
from middleware.protocol import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LEGACY_VERSIONS,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_LOG_LEVEL,
    META_PREFIX,
    META_PROTOCOL_VERSION,
    META_SERVER_INFO,
    METHOD_NOT_FOUND,
    MISSING_CLIENT_CAPABILITY,
    MODERN_VERSIONS,
    MRTR_METHODS,
    MRTR_RETRY_FIELDS,
    RESOURCE_NOT_FOUND,
    RESPONSE,
    UNSUPPORTED_PROTOCOL_VERSION,
    Event,
    Fault,
    MCPApp,
    MCPScope,
    Message,
    Principal,
    child_scope,
    error_message,
    make_scope,
    result_message,
)
from middleware.protocol.headers import HeaderMismatch, check_request
from middleware.protocol.http import ASGIReceive, ASGIScope, ASGISend, send_jsonrpc_error
from middleware.protocol.scope import KNOWN_ANSWERS

log = logging.getLogger("portcullis.endpoint")

SERVED: Final = frozenset(
    {
        "server/discover",
        "subscriptions/listen",
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "completion/complete",
    }
)
REPLACED: Final = {
    "initialize": "2026-07-28 has no initialize: send requests directly, or server/discover",
    "ping": "2026-07-28 has no ping; server/discover tells whether the server is there",
    "logging/setLevel": f"2026-07-28 sets the log level per request: put {META_LOG_LEVEL} in _meta",
    "resources/subscribe": "2026-07-28 subscribes with subscriptions/listen (resourceSubscriptions)",
    "resources/unsubscribe": "2026-07-28 unsubscribes by closing the subscriptions/listen stream",
}
VERSION_HEADER: Final = b"mcp-protocol-version"
MIRRORED_HEADERS: Final = frozenset({VERSION_HEADER, b"mcp-method", b"mcp-name"})
"""The headers checked against the body here (ASGI gives header names lower-cased);
``Mcp-Param-*`` ones are checked by the router, which knows the tools' schemas."""
BAD_REQUEST_CODES: Final = frozenset(
    {HEADER_MISMATCH, MISSING_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION}
)
"""Errors a 2026-07-28 server answers with HTTP 400, whoever raised them."""


def is_modern_request(scope: ASGIScope, message: Message) -> bool:
    """Is this POST from a 2026-07-28 client? Its ``_meta`` or its version header says so
    (a modern client that forgot one of them gets a precise error, not "send initialize")."""
    if message.get("method") == "server/discover":
        return True
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if isinstance(meta, dict) and META_PROTOCOL_VERSION in meta:
        return True
    for name, value in scope["headers"]:
        if name == VERSION_HEADER:
            return value.decode("latin-1") in MODERN_VERSIONS
    return False


class ModernFront:
    def __init__(
        self,
        app: MCPApp,
        *,
        pinned: str | None,
        states: RequestStates,
        parked: ParkedCalls,
        listener: Listener,
        resumed_elsewhere: Callable[[str], Awaitable[None]] | None = None,
        server_info: dict[str, Any],
        keepalive: float,
        in_flight: InFlight | None = None,
    ) -> None:
        self.app = app
        self.in_flight = in_flight or InFlight()
        self.pinned = pinned
        self.states = states
        self.parked = parked
        self.resumed_elsewhere = resumed_elsewhere
        self.listener = listener
        self.server_info = server_info
        self.keepalive = keepalive

    async def handle(
        self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend, message: Message, principal: Principal
    ) -> None:
        if "id" not in message:
            if "method" in message:  # 2026-07-28 defines no client notifications over HTTP
                await send({"type": "http.response.start", "status": 202, "headers": []})
                await send({"type": "http.response.body", "body": b""})
            else:
                await send_jsonrpc_error(
                    send, 400, INVALID_REQUEST, "a 2026-07-28 client sends no responses: retry the request"
                )
            return
        if await _refused(scope, send, message):
            return
        params: dict[str, Any] = message.get("params") or {}
        meta: dict[str, Any] = params.get("_meta") or {}
        mcp_scope = self._mcp_scope(scope, message, params, meta, principal)
        if message["method"] == "subscriptions/listen":
            await self.listener.listen(mcp_scope, receive, send)
            return
        exchange = Exchange(message["id"], meta.get("progressToken"), mcp_scope["log_level"])
        reply = Reply(send, [], self.keepalive)
        with self.in_flight.track():
            try:
                if params.get("requestState") is None:
                    await self._start(ModernCall.new(mcp_scope), mcp_scope, exchange, reply, receive)
                else:
                    await self._retry(mcp_scope, params, exchange, reply, receive)
            except asyncio.CancelledError:
                stopped = self.in_flight.stopped(exchange.request_id)
                if stopped is None:
                    raise
                await reply.finish(stopped)

    async def _retry(
        self,
        mcp_scope: MCPScope,
        params: dict[str, Any],
        exchange: Exchange,
        reply: Reply,
        receive: ASGIReceive,
    ) -> None:
        """A retry with a requestState: resume the parked call it names (or replay it here),
        or pass a modern upstream's own state on."""
        method, state = mcp_scope["method"], params.get("requestState")
        if method not in MRTR_METHODS or not is_ours(state):
            await reply(self._refusal(exchange, "requestState is not one this gateway issued"))
            return
        try:
            token = await self.states.redeem(
                state, mcp_scope["principal"].name, request_digest(method, params)
            )
        except InvalidRequestState as exc:
            log.info("refused a retry of %s: %s", method, exc)
            await reply(self._refusal(exchange, "requestState is invalid, expired or already used"))
            return
        except LedgerUnavailable as exc:
            log.error("cannot check a retry of %s: %s", method, exc)
            text = "the gateway cannot check requestState right now; retry shortly"
            await reply(_failure(exchange, INTERNAL_ERROR, text, "gateway"))
            return
        if "call" in token.payload:
            given = params.get("inputResponses")
            responses = given if isinstance(given, dict) else {}
            call = self.parked.take(token.payload["call"])
            if call is None:
                # Parked on another replica (or before a restart): run it again here, handing
                # it the answers the client already gave instead of asking again.
                log.info("replaying a %s parked elsewhere with the answers given so far", method)
                if self.resumed_elsewhere is not None:
                    await self.resumed_elsewhere(token.payload["call"])
                known = replay_answers(token.payload, responses)
                scope_params: dict[str, Any] = mcp_scope["params"]
                original = {k: v for k, v in scope_params.items() if k not in MRTR_RETRY_FIELDS}
                replay = child_scope(mcp_scope, params=original, fresh_state=True)
                replay["state"][KNOWN_ANSWERS] = known
                await self._start(ModernCall.new(replay), replay, exchange, reply, receive)
                return
            call.answer(responses)
            await self._resume(call, mcp_scope, exchange, reply, receive)
            return
        # A modern upstream's own state, which the gateway wrapped: it travels on unwrapped.
        inner = token.payload.get("inner")
        unwrapped = {k: v for k, v in mcp_scope["params"].items() if k != "requestState"}
        if inner is not None:
            unwrapped["requestState"] = inner
        retry = child_scope(mcp_scope, params=unwrapped)
        await self._start(ModernCall.new(retry), retry, exchange, reply, receive)

    async def _start(
        self,
        call: ModernCall,
        mcp_scope: MCPScope,
        exchange: Exchange,
        reply: Reply,
        receive: ASGIReceive,
    ) -> None:
        """Start a new call in a task of its own, and carry it in this exchange."""
        carrier = await attach(call, exchange, self._writer(reply, mcp_scope))
        call.start(self.app, mcp_scope)
        await self._carry(call, carrier, mcp_scope, exchange, reply, receive)

    async def _resume(
        self,
        call: ModernCall,
        mcp_scope: MCPScope,
        exchange: Exchange,
        reply: Reply,
        receive: ASGIReceive,
    ) -> None:
        """Carry a parked call, answered, into this retry's exchange."""
        carrier = await attach(call, exchange, self._writer(reply, mcp_scope))
        await self._carry(call, carrier, mcp_scope, exchange, reply, receive)

    async def _carry(  # noqa: PLR0917
        self,
        call: ModernCall,
        carrier: Carrier,
        mcp_scope: MCPScope,
        exchange: Exchange,
        reply: Reply,
        receive: ASGIReceive,
    ) -> None:
        """This request's task carries the call until the exchange ends, then ends it; the
        call's own task goes on if it is parked."""
        watchdog = Watchdog(receive, carrier.client_left)
        try:
            outcome: Outcome = await carrier.done
        except asyncio.CancelledError:
            call.cancel()  # nobody carries it any more, and it is not parked
            raise
        finally:
            watchdog.stop()
        await self._settle(outcome, call, mcp_scope, exchange, reply)

    async def _settle(
        self, outcome: Outcome, call: ModernCall, mcp_scope: MCPScope, exchange: Exchange, reply: Reply
    ) -> None:
        """End the exchange as its outcome says: the one place an exchange ends."""
        if outcome is Outcome.GONE:
            return
        if outcome is Outcome.REFUSED:  # it needs what the client did not declare: it cannot go on
            call.cancel()
            refusal = missing_capability_error(call, exchange.request_id)
            await reply({"type": RESPONSE, "message": refusal}, 400)
            return
        if outcome is Outcome.ENDED:
            await reply.finish(
                error_message(
                    exchange.request_id, INTERNAL_ERROR, "the gateway produced no response", fault="gateway"
                )
            )
            return
        principal = mcp_scope["principal"].name
        if not self.parked.park(call, principal):
            call.cancel()
            log.warning("refused to park another call for %s: too many wait for input", principal)
            text = "too many of your calls are waiting for input; answer or abandon them, then retry"
            await reply(_failure(exchange, INTERNAL_ERROR, text, "client"))
            return
        digest = request_digest(mcp_scope["method"], mcp_scope["params"])
        token = self.states.mint(principal, digest, call.resumption())
        await reply(
            {"type": RESPONSE, "message": result_message(exchange.request_id, input_required(call, token))}
        )

    def _writer(self, reply: Reply, mcp_scope: MCPScope) -> Any:
        async def write(event: Event) -> None:
            if event["type"] != RESPONSE:
                await reply(event)
                return
            message = self._finish(event["message"], mcp_scope)
            code = (message.get("error") or {}).get("code")
            await reply({"type": RESPONSE, "message": message}, 400 if code in BAD_REQUEST_CODES else 200)

        return write

    def _finish(self, message: Message, mcp_scope: MCPScope) -> Message:
        """A result as a 2026-07-28 client expects it: typed, signed by the gateway, and a modern
        upstream's own requestState bound to this caller."""
        result = message.get("result")
        error = message.get("error")
        if isinstance(error, dict) and error.get("code") == RESOURCE_NOT_FOUND:
            # 2026-07-28 reports an unknown resource as invalid params.
            return {**message, "error": {**error, "code": INVALID_PARAMS}}
        if not isinstance(result, dict):
            return message
        result = dict(result)
        result.setdefault("resultType", "complete")
        result["_meta"] = {**(result.get("_meta") or {}), META_SERVER_INFO: self.server_info}
        if result["resultType"] == "input_required":
            digest = request_digest(mcp_scope["method"], mcp_scope["params"])
            inner = result.get("requestState")
            result["requestState"] = self.states.mint(mcp_scope["principal"].name, digest, {"inner": inner})
            for key in ("ttlMs", "cacheScope"):
                result.pop(key, None)
        return {**message, "result": result}

    @staticmethod
    def _refusal(exchange: Exchange, why: str) -> Event:
        text = f"{why}; send the original request again, without inputResponses and requestState"
        return _failure(exchange, INVALID_PARAMS, text, "client")

    def _mcp_scope(
        self,
        scope: ASGIScope,
        message: Message,
        params: dict[str, Any],
        meta: Mapping[str, Any],
        principal: Principal,
    ) -> MCPScope:
        kept_meta = {k: v for k, v in meta.items() if not k.startswith(META_PREFIX)}
        plain = {k: v for k, v in params.items() if k != "_meta"}
        if kept_meta:
            plain["_meta"] = kept_meta
        level = meta.get(META_LOG_LEVEL)
        return make_scope(
            method=message["method"],
            request_id=message["id"],
            params=plain,
            principal=principal,
            session_id=None,
            protocol_version=meta[META_PROTOCOL_VERSION],
            client_capabilities=meta[META_CLIENT_CAPABILITIES],  # an object: checked by _refused
            client_info=meta.get(META_CLIENT_INFO),
            server=self.pinned,
            http=scope,
            log_level=level if isinstance(level, str) else None,
            modern=True,
        )


async def _refused(scope: ASGIScope, send: ASGISend, message: Message) -> bool:
    """Refuse (and say so) a request without the per-request metadata, whose headers disagree
    with its body, whose version we do not speak, or whose method this era does not have;
    checked in that order, before anything acts on the request."""
    request_id = message["id"]
    params = message.get("params") or {}
    meta = params.get("_meta")
    if (
        not isinstance(meta, dict)
        or not isinstance(meta.get(META_PROTOCOL_VERSION), str)
        or not isinstance(meta.get(META_CLIENT_CAPABILITIES), dict)
    ):
        await send_jsonrpc_error(
            send,
            400,
            INVALID_PARAMS,
            f"Invalid params: a 2026-07-28 request carries params._meta with {META_PROTOCOL_VERSION} "
            f"(a string) and {META_CLIENT_CAPABILITIES} (an object)",
            request_id=request_id,
        )
        return True
    try:
        check_request(_mirrored(scope), message)
    except HeaderMismatch as exc:
        await send_jsonrpc_error(send, 400, HEADER_MISMATCH, f"Header mismatch: {exc}", request_id=request_id)
        return True
    version = meta[META_PROTOCOL_VERSION]
    if version not in MODERN_VERSIONS:
        supported = [*MODERN_VERSIONS, *LEGACY_VERSIONS]
        await send_jsonrpc_error(
            send,
            400,
            UNSUPPORTED_PROTOCOL_VERSION,
            f"Unsupported protocol version {version!r}: use one of {', '.join(supported)} "
            "(the handshake versions through initialize)",
            request_id=request_id,
            data={"supported": supported, "requested": version},
        )
        return True
    method = message["method"]
    if method not in SERVED:
        hint = REPLACED.get(method, "this endpoint does not serve it")
        await send_jsonrpc_error(
            send, 404, METHOD_NOT_FOUND, f"Method not found: {method!r} ({hint})", request_id=request_id
        )
        return True
    return False


def _mirrored(scope: ASGIScope) -> dict[str, str]:
    """The mirrored headers of the request; one sent twice is refused (an intermediary might
    route on the other copy)."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in MIRRORED_HEADERS:
            text = name.decode("latin-1")
            if text in headers:
                raise HeaderMismatch(f"the {text} header is sent more than once")
            headers[text] = value.decode("latin-1").strip(" \t")
    return headers


def _failure(exchange: Exchange, code: int, text: str, fault: Fault) -> Event:
    return {"type": RESPONSE, "message": error_message(exchange.request_id, code, text, fault=fault)}
