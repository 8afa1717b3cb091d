"""The MCP endpoint: streamable HTTP (2025-03-26, 2025-06-18, 2025-11-25) in front of the
MCP tier. A POST from a 2026-07-28 client goes to :class:`gateway.front.modern.ModernFront`.

Each POSTed message is parsed once and becomes one MCP-tier call. The reply is plain JSON when
the call's first event is its response (most calls), and turns into an SSE stream as soon as
anything else (progress, a notification) comes first, so streaming costs only those that use it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from gateway.front.bus import CANCEL, ReplicaBus
from gateway.front.bus import CLIENT_RESPONSE as BUS_CLIENT_RESPONSE
from gateway.front.client_stream import ignore, no_input
from gateway.front.events import EventStore
from gateway.front.failures import failure_message
from gateway.front.get_stream import SESSION_HEADER, GetStreams
from gateway.front.inbound import answer_id, check_depth, check_shape, shown
from gateway.front.modern import ModernFront
from gateway.front.modern_checks import is_modern_request
from gateway.front.post_body import accepts, parse_body, read_post
from gateway.front.reply import Journal, Reply
from gateway.front.sessions import (
    EndReason,
    Inbox,
    LiveSession,
    LiveSessions,
    SessionEnds,
    SessionRecord,
    SessionStore,
    new_session_id,
)
from gateway.front.shutdown import InFlight
from middleware.edge.refusals import log_refusal
from middleware.protocol import (
    ANONYMOUS,
    CLIENT_RESPONSE,
    LEGACY_VERSIONS,
    MODERN_VERSIONS,
    PRINCIPAL_KEY,
    REQUEST_CANCELLED,
    RESPONSE,
    SERVER_REQUEST,
    ClientError,
    Event,
    GatewayError,
    InvalidParams,
    InvalidRequest,
    MCPApp,
    MCPScope,
    Message,
    Principal,
    error_message,
    make_scope,
)
from middleware.protocol.errors import (
    MethodNotAllowed,
    NotAcceptable,
    NotFoundError,
    Overloaded,
)
from middleware.protocol.http import ASGIReceive, ASGIScope, ASGISend, header, send_error
from upstream.session.channel import LATE_ANSWERS

log = logging.getLogger("portcullis.endpoint")

SUPPORTED_VERSIONS: Final = LEGACY_VERSIONS
"""What initialize negotiates; modern (2026-07-28) requests are served by gateway/front/modern.py."""
DEFAULT_VERSION: Final = "2025-03-26"
"""What the spec says to assume when a client sends no MCP-Protocol-Version."""

VERSION_HEADER: Final = b"mcp-protocol-version"


class MCPEndpoint:
    """One MCP endpoint (``/mcp``, or ``/servers/NAME/mcp`` pinned to one server)."""

    def __init__(
        self,
        app: MCPApp,
        *,
        modern: ModernFront,
        path: str,
        pinned: str | None,
        store: SessionStore,
        live: LiveSessions,
        events: EventStore,
        ends: SessionEnds,
        max_sessions: int,
        keepalive: float,
        max_depth: int = 64,
        in_flight: InFlight | None = None,
        bus: ReplicaBus | None = None,
    ) -> None:
        self.app = app
        self.modern = modern
        self.path = path
        self.pinned = pinned
        self.store = store
        self.live = live
        self.events = events
        self.ends = ends
        self.bus = bus
        """Where what this replica cannot deliver goes, for the replica that can (None: alone)."""
        self.max_sessions = max_sessions
        self.keepalive = keepalive
        self.max_depth = max_depth
        self.in_flight = in_flight if in_flight is not None else InFlight()
        self.streams = GetStreams(path=path, live=live, events=events, keepalive=keepalive)

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        try:
            await self._route(scope, receive, send)
        except GatewayError as exc:  # refused before any message of the request was read
            await _refuse(send, exc)

    async def _route(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        method = scope["method"]
        if method == "POST":
            await self._post(scope, receive, send)
        elif method in ("GET", "DELETE") and _modern_version(scope):
            raise MethodNotAllowed(
                f"{method} is not part of 2026-07-28: send every request as a POST, and "
                "subscriptions/listen for change notifications",
                allow="POST",
            )
        elif method == "GET":
            await self._get(scope, receive, send)
        elif method == "DELETE":
            await self._delete(scope, send)
        else:
            raise MethodNotAllowed(
                f"method {method} is not allowed here; use POST, GET or DELETE", allow="GET, POST, DELETE"
            )

    # --- POST -------------------------------------------------------------------------------

    async def _post(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        body = await read_post(scope, receive)
        if body is None:
            return
        message = parse_body(body, self.max_depth)
        try:
            check_depth(body, message, self.max_depth)
            check_shape(message)
        except ClientError as exc:
            log_refusal(scope, exc.http_status, exc.message)
            await _refuse(send, exc, answer_id(message))
            return
        try:
            await self._dispatch(scope, receive, send, message)
        except GatewayError as exc:  # refused before the MCP tier saw it: answer with its id
            await _refuse(send, exc, message.get("id"))

    async def _dispatch(
        self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend, message: Message
    ) -> None:
        """One well-formed message, to the front, the session or the MCP tier it is for."""
        principal: Principal = scope.get(PRINCIPAL_KEY, ANONYMOUS)
        if is_modern_request(scope, message):
            await self.modern.handle(scope, receive, send, message, principal)
            return
        if message.get("method") == "initialize" and "id" in message:
            await self._initialize(scope, send, message, principal)
            return
        session = await self._session(scope, principal)
        live = self.live.get(session.id, self.path)
        if "method" not in message:
            await self._client_response(session.id, live, message)
            await _accepted(send)
        elif "id" not in message:
            await self._notification(scope, session, message, principal)
            await _accepted(send)
        else:
            await self._request(send, live, self._mcp_scope(scope, session, message, principal))

    async def _initialize(
        self, scope: ASGIScope, send: ASGISend, message: Message, principal: Principal
    ) -> None:
        params = await self._initialize_params(scope, message)
        requested = params["protocolVersion"]
        version = requested if requested in SUPPORTED_VERSIONS else SUPPORTED_VERSIONS[0]
        record = SessionRecord(
            id=new_session_id(),
            principal=principal.name,
            project=principal.project,
            endpoint=self.path,
            protocol_version=version,
            client_capabilities=_dict(params.get("capabilities")),
            client_info=_dict(params.get("clientInfo")),
        )
        reply = Reply(send, [(SESSION_HEADER, record.id.encode())], self.keepalive)

        async def capture(event: Event) -> None:
            if event["type"] == RESPONSE and "result" in event["message"]:
                await self.store.create(record)
                self.live.get(record.id, self.path)
            await reply(event)

        await self._run(self._mcp_scope(scope, record, message, principal), no_input, capture, reply)

    async def _initialize_params(self, scope: ASGIScope, message: Message) -> dict[str, Any]:
        """The params of an initialize that may start a session; raises why it may not."""
        if header(scope, SESSION_HEADER) is not None:
            raise InvalidRequest("initialize starts a new session: send it without an Mcp-Session-Id header")
        params = message.get("params")
        if not isinstance(params, dict) or not isinstance(params.get("protocolVersion"), str):
            raise InvalidParams(
                "initialize needs params.protocolVersion (e.g. '2025-11-25'), capabilities and clientInfo"
            )
        if await self.store.count() >= self.max_sessions:
            raise Overloaded("the gateway is at its session limit; retry later")
        return params

    async def _request(self, send: ASGISend, live: LiveSession, mcp_scope: MCPScope) -> None:
        """Run a request; a client's notifications/cancelled cancels this very task."""
        request_id = mcp_scope["id"]
        session_id = mcp_scope["session_id"]
        assert session_id is not None  # a legacy request is served inside its session
        reply = Reply(send, [], self.keepalive, Journal(self.events, session_id))
        inbox = Inbox()
        asked: list[Any] = []

        async def relay(event: Event) -> None:
            if event["type"] == SERVER_REQUEST:
                asked.append(event["message"]["id"])
                live.awaiting[event["message"]["id"]] = inbox
            await reply(event)

        if request_id in live.in_flight:
            # The spec forbids reusing an id within a session; two calls under one id would
            # make a cancellation (or the bookkeeping of the first to end) hit the other.
            raise InvalidRequest(
                f"Invalid Request: id {shown(request_id)} is already used by a request in flight "
                "in this session; give every request a fresh id"
            )
        task = asyncio.current_task()
        assert task is not None
        live.in_flight[request_id] = task
        try:
            await self._run(mcp_scope, inbox.receive, relay, reply)
        except asyncio.CancelledError:
            if request_id not in live.cancelled:
                raise
            task.uncancel()
            cancelled = "request cancelled by the client's notifications/cancelled"
            await reply.finish(error_message(request_id, REQUEST_CANCELLED, cancelled, fault="client"))
        finally:
            if live.in_flight.get(request_id) is task:
                del live.in_flight[request_id]
            live.cancelled.discard(request_id)
            for server_request_id in asked:  # not answered yet: the answer may still come
                if server_request_id in live.awaiting:
                    loop = asyncio.get_running_loop()
                    loop.call_later(LATE_ANSWERS, live.awaiting.pop, server_request_id, None)

    async def _run(self, mcp_scope: MCPScope, receive: Any, send: Any, reply: Reply) -> None:
        """Run one request through the MCP tier; whatever happens, the client gets an answer."""
        request_id = mcp_scope["id"]
        with self.in_flight:
            try:
                await self.app(mcp_scope, receive, send)
            except asyncio.CancelledError:
                stopped = self.in_flight.stopped(request_id)
                if stopped is None:
                    raise
                await reply.finish(stopped)
                return
            except Exception as exc:  # boundary: one broken call must not take the endpoint down
                await reply.finish(failure_message(mcp_scope, exc))
                return
        if reply.mode != "done":  # the fallback is built only when it may be sent
            await reply.finish(GatewayError("the gateway produced no response").to_message(request_id))

    async def _notification(
        self, scope: ASGIScope, session: SessionRecord, message: Message, principal: Principal
    ) -> None:
        if message["method"] == "notifications/cancelled":
            params = message.get("params")
            if isinstance(params, dict) and "requestId" in params:
                held = self.live.cancel(session.id, params["requestId"])
                if not held and self.bus is not None:  # the call may run on another replica
                    await self.bus.publish(CANCEL, session.id, {"requestId": params["requestId"]})
        mcp_scope = self._mcp_scope(scope, session, message, principal)
        try:
            await self.app(mcp_scope, no_input, ignore)
        except Exception:  # boundary: a notification has nobody to report to
            log.exception("notification %s failed inside the gateway", message["method"])

    async def _client_response(self, session_id: str, live: LiveSession, message: Message) -> None:
        inbox = live.awaiting.pop(message.get("id"), None)
        if inbox is not None:
            inbox.put({"type": CLIENT_RESPONSE, "message": message})
        elif self.bus is not None:  # the call that asked may run on another replica
            await self.bus.publish(BUS_CLIENT_RESPONSE, session_id, message)
        else:
            log.debug("dropped a client response to %r: no server request is pending", message.get("id"))

    def _mcp_scope(
        self, scope: ASGIScope, session: SessionRecord, message: Message, principal: Principal
    ) -> MCPScope:
        return make_scope(
            method=message["method"],
            request_id=message.get("id"),
            params=message.get("params"),
            principal=principal,
            session_id=session.id,
            protocol_version=session.protocol_version,
            client_capabilities=session.client_capabilities,
            client_info=session.client_info,
            server=self.pinned,
            http=scope,
        )

    # --- sessions ---------------------------------------------------------------------------

    async def _session(self, scope: ASGIScope, principal: Principal) -> SessionRecord:
        """The caller's session; raises 400/404 as the spec asks when there is none."""
        raw = header(scope, SESSION_HEADER)
        if raw is None:
            raise InvalidRequest(
                "Bad Request: missing Mcp-Session-Id header; send initialize first to get one"
            )
        record = await self.store.get(raw.decode("latin-1"))
        if (
            record is None
            or record.principal != principal.name
            or record.project != principal.project
            or record.endpoint != self.path
        ):
            # A session of another principal (or project) answers exactly like an unknown one.
            raise NotFoundError("Session not found: it ended or expired; start a new one with initialize")
        version = header(scope, VERSION_HEADER)
        # Only an invalid or unsupported version is refused (the spec's MUST); a supported one
        # other than the negotiated version is the client's SHOULD, and the session keeps its
        # negotiated version either way.
        if version is not None and (text := version.decode("latin-1")) not in SUPPORTED_VERSIONS:
            raise InvalidRequest(
                f"Bad Request: MCP-Protocol-Version {text!r} is not supported; use one of "
                f"{', '.join(SUPPORTED_VERSIONS)} (this session negotiated {record.protocol_version!r})"
            )
        return record

    # --- GET and DELETE ---------------------------------------------------------------------

    async def _get(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        if not accepts(scope, b"text/event-stream"):
            raise NotAcceptable("Not Acceptable: the Accept header must list text/event-stream")
        session = await self._session(scope, scope.get(PRINCIPAL_KEY, ANONYMOUS))
        await self.streams.serve(scope, receive, send, session.id)

    async def _delete(self, scope: ASGIScope, send: ASGISend) -> None:
        session = await self._session(scope, scope.get(PRINCIPAL_KEY, ANONYMOUS))
        await self.ends.end(session.id, EndReason.DELETED)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _refuse(send: ASGISend, exc: GatewayError, request_id: Any = None) -> None:
    """The one place this front turns a refusal into its HTTP answer (status, headers, body)."""
    await send_error(send, exc, request_id=request_id)


def _modern_version(scope: ASGIScope) -> bool:
    version = header(scope, VERSION_HEADER)
    return version is not None and version.decode("latin-1") in MODERN_VERSIONS


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def _accepted(send: ASGISend) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
