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
from gateway.front.modern_checks import check_modern_request
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
    RequestState,
    RequestStates,
    is_ours,
    request_digest,
)
from gateway.front.shutdown import InFlight
from middleware.protocol import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_LOG_LEVEL,
    META_PREFIX,
    META_PROTOCOL_VERSION,
    META_SERVER_INFO,
    MISSING_CLIENT_CAPABILITY,
    MRTR_METHODS,
    MRTR_RETRY_FIELDS,
    RESOURCE_NOT_FOUND,
    RESPONSE,
    UNSUPPORTED_PROTOCOL_VERSION,
    ClientError,
    Event,
    GatewayError,
    InvalidParams,
    MCPApp,
    MCPScope,
    Message,
    Principal,
    child_scope,
    make_scope,
    result_message,
)
from middleware.protocol.http import ASGIReceive, ASGIScope, ASGISend
from middleware.protocol.scope import KNOWN_ANSWERS

log = logging.getLogger("portcullis.endpoint")

BAD_REQUEST_CODES: Final = frozenset(
    {HEADER_MISMATCH, MISSING_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION}
)
"""Errors a 2026-07-28 server answers with HTTP 400, whoever raised them."""


class TooManyWaiting(ClientError):
    """The principal has as many calls parked for input as the gateway keeps."""

    code = INTERNAL_ERROR


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
        self.in_flight = in_flight if in_flight is not None else InFlight()
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
        reply = Reply(send, [], self.keepalive)
        if "id" not in message and "method" in message:  # 2026-07-28 has no client notifications
            await send({"type": "http.response.start", "status": 202, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        try:
            check_modern_request(scope, message)
        except GatewayError as exc:
            await _answer_error(reply, exc, message.get("id"), refused=True)
            return
        params: dict[str, Any] = message.get("params") or {}
        meta: dict[str, Any] = params.get("_meta") or {}
        mcp_scope = self._mcp_scope(scope, message, params, meta, principal)
        exchange = Exchange(message["id"], meta.get("progressToken"), mcp_scope["log_level"])
        try:
            await self._serve(mcp_scope, params, exchange, reply, receive, send)
        except GatewayError as exc:
            await _answer_error(reply, exc, exchange.request_id, refused=False)

    async def _serve(  # noqa: PLR0917
        self,
        mcp_scope: MCPScope,
        params: dict[str, Any],
        exchange: Exchange,
        reply: Reply,
        receive: ASGIReceive,
        send: ASGISend,
    ) -> None:
        """A checked request: a listen stream, a new call, or a retry."""
        if mcp_scope["method"] == "subscriptions/listen":
            await self.listener.listen(mcp_scope, receive, send)
            return
        with self.in_flight:
            try:
                if params.get("requestState") is None:
                    await self._start(mcp_scope, exchange, reply, receive)
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
        token = await self._redeem(mcp_scope, params)
        if "call" in token.payload:
            given = params.get("inputResponses")
            responses = given if isinstance(given, dict) else {}
            call = self.parked.take(token.payload["call"])
            if call is None:
                await self._replay(mcp_scope, token.payload, responses, exchange, reply, receive)
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
        await self._start(retry, exchange, reply, receive)

    async def _redeem(self, mcp_scope: MCPScope, params: dict[str, Any]) -> RequestState:
        """The token a retry's requestState stands for; raises when it cannot be used."""
        method, state = mcp_scope["method"], params.get("requestState")
        if method not in MRTR_METHODS or not is_ours(state):
            raise _refusal("requestState is not one this gateway issued")
        try:
            digest = request_digest(method, params)
            return await self.states.redeem(state, _owner(mcp_scope["principal"]), digest)
        except InvalidRequestState as exc:
            log.info("refused a retry of %s: %s", method, exc)
            raise _refusal("requestState is invalid, expired or already used") from None
        except LedgerUnavailable as exc:
            log.error("cannot check a retry of %s: %s", method, exc)
            raise GatewayError("the gateway cannot check requestState right now; retry shortly") from None

    async def _replay(  # noqa: PLR0917
        self,
        mcp_scope: MCPScope,
        payload: dict[str, Any],
        responses: dict[str, Any],
        exchange: Exchange,
        reply: Reply,
        receive: ASGIReceive,
    ) -> None:
        """A call parked on another replica (or before a restart): run it again here, handing
        it the answers the client already gave instead of asking again."""
        log.info("replaying a %s parked elsewhere with the answers given so far", mcp_scope["method"])
        if self.resumed_elsewhere is not None:
            await self.resumed_elsewhere(payload["call"])
        known = replay_answers(payload, responses)
        scope_params: dict[str, Any] = mcp_scope["params"]
        original = {k: v for k, v in scope_params.items() if k not in MRTR_RETRY_FIELDS}
        replay = child_scope(mcp_scope, params=original, fresh_state=True)
        replay["state"][KNOWN_ANSWERS] = known
        await self._start(replay, exchange, reply, receive)

    async def _start(
        self, mcp_scope: MCPScope, exchange: Exchange, reply: Reply, receive: ASGIReceive
    ) -> None:
        """Start a new call in a task of its own, and carry it in this exchange."""
        call = ModernCall.new(mcp_scope)
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
            raise missing_capability_error(call)
        if outcome is Outcome.ENDED:
            ended = GatewayError("the gateway produced no response")
            await reply.finish(ended.to_message(exchange.request_id))
            return
        principal = mcp_scope["principal"].name
        if not self.parked.park(call, principal):
            call.cancel()
            log.warning("refused to park another call for %s: too many wait for input", principal)
            raise TooManyWaiting(
                "too many of your calls are waiting for input; answer or abandon them, then retry"
            )
        digest = request_digest(mcp_scope["method"], mcp_scope["params"])
        token = self.states.mint(_owner(mcp_scope["principal"]), digest, call.resumption())
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
            await reply({"type": RESPONSE, "message": message}, _status_of(code))

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
            result["requestState"] = self.states.mint(
                _owner(mcp_scope["principal"]), digest, {"inner": inner}
            )
            for key in ("ttlMs", "cacheScope"):
                result.pop(key, None)
        return {**message, "result": result}

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


def _owner(principal: Principal) -> str:
    """Whom a requestState belongs to: the principal, and with tenants its project too (a user
    name that comes back in another project is someone else)."""
    return principal.name if principal.project is None else f"{principal.name}\x00{principal.project}"


def _refusal(why: str) -> InvalidParams:
    return InvalidParams(f"{why}; send the original request again, without inputResponses and requestState")


def _status_of(code: object) -> int:
    """The HTTP status of an answer to an accepted request: 400 for the codes 2026-07-28 says
    are bad requests, else 200 (the JSON-RPC error is the answer)."""
    return 400 if code in BAD_REQUEST_CODES else 200


async def _answer_error(reply: Reply, exc: GatewayError, request_id: Any, *, refused: bool) -> None:
    """The one place this front turns an error into its answer: a request refused before it
    is served gets the error's own HTTP status, an accepted one the status its code calls for."""
    status = exc.http_status if refused else _status_of(exc.code)
    await reply({"type": RESPONSE, "message": exc.to_message(request_id)}, status)
