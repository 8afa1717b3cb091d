"""The MCP-tier contract: the shape of one call, its events, and JSON-RPC error builders.

Every JSON-RPC message from a client becomes one ASGI-shaped call
``await app(scope, receive, send)`` with ``scope["type"] == "mcp"``. This module is the only
thing the router and the middlewares share, so it holds no I/O and imports nothing of ours.

Scope keys (a middleware that changes the request passes a new child scope inward):

- ``type``: always ``"mcp"``.
- ``method``: the JSON-RPC method.
- ``id``: the client's request id, or ``None`` for a notification.
- ``params``: the request params (a dict, possibly empty). The front strips the modern
  per-request keys (``io.modelcontextprotocol/*``) from ``params._meta`` into the scope keys
  below, so the params are the same whichever era the client speaks; a modern upstream
  connection writes its own.
- ``principal``: who is calling (a :class:`Principal`).
- ``session_id``: the gateway session, or ``None`` before one exists.
- ``protocol_version``: the negotiated MCP protocol version; for a modern (2026-07-28) client
  the version its request declared in ``_meta`` (see :func:`is_modern`).
- ``client_capabilities``: what the client declared (at initialize, or per request in ``_meta``).
- ``client_info``: who the client says it is (may be empty).
- ``log_level``: for a modern client, the ``io.modelcontextprotocol/logLevel`` of this request
  (``None``: send it no log messages); absent for legacy clients (their level is per session).
- ``server``: the upstream server this endpoint is pinned to (sidecar mode), else ``None``.
- ``http``: the originating HTTP scope (read-only by convention).
- ``state``: a dict shared by the whole call (a child scope, ``{**scope, "params": ...}``,
  keeps the same one); the router records ``target_server`` and ``target_name`` in it once it
  has resolved where the message goes. A middleware whose decision depends on who is calling
  (filtering a list per principal, say) sets ``state["varies_by_principal"] = True``, so the
  answer is not marked cacheable for everyone (``cacheScope``).

Events sent back (``send``): ``mcp.response`` (exactly one per request, carrying a whole
JSON-RPC response or error message), ``mcp.notification`` and ``mcp.request`` (a
server-to-client request). Events received (``receive``): ``mcp.client_response`` (the
client's answer to a server-to-client request).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NotRequired, TypedDict

from middleware.protocol.jsonrpc import Fault, JSONValue, Message, error_message, result_message

__all__ = [
    "ANONYMOUS",
    "CLIENT_RESPONSE",
    "KNOWN_ANSWERS",
    "LEGACY_VERSIONS",
    "META_CLIENT_CAPABILITIES",
    "META_CLIENT_INFO",
    "META_LOG_LEVEL",
    "META_PREFIX",
    "META_PROTOCOL_VERSION",
    "META_SERVER_INFO",
    "META_SUBSCRIPTION_ID",
    "MODERN_VERSIONS",
    "MRTR_METHODS",
    "MRTR_RETRY_FIELDS",
    "NOTIFICATION",
    "PARKED",
    "PRINCIPAL_KEY",
    "RESPONSE",
    "SERVER_REQUEST",
    "SERVER_VISIBLE",
    "SUBJECT_TOKEN_KEY",
    "TARGET_NAME",
    "TARGET_SERVER",
    "VARIES_BY_PRINCIPAL",
    "ClientResponseEvent",
    "Event",
    "MCPApp",
    "MCPScope",
    "NotificationEvent",
    "Principal",
    "Receive",
    "ResponseEvent",
    "Scope",
    "Send",
    "ServerRequestEvent",
    "child_scope",
    "error_event",
    "is_modern",
    "make_scope",
    "response_event",
    "tool_error",
]

LEGACY_VERSIONS: Final = ("2025-11-25", "2025-06-18", "2025-03-26")
"""Protocol versions the front serves with initialize and sessions, newest first."""
MODERN_VERSIONS: Final = ("2026-07-28",)
"""Protocol versions without initialize or sessions: version and capabilities on every request."""
MRTR_METHODS: Final = frozenset({"tools/call", "prompts/get", "resources/read"})
"""The requests a 2026-07-28 server may answer with ``input_required`` (all others complete)."""
MRTR_RETRY_FIELDS: Final = frozenset({"inputResponses", "requestState"})
"""Params a retry adds to the original request (multi round-trip requests)."""
META_PREFIX: Final = "io.modelcontextprotocol/"
META_PROTOCOL_VERSION: Final = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES: Final = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO: Final = "io.modelcontextprotocol/clientInfo"
META_SERVER_INFO: Final = "io.modelcontextprotocol/serverInfo"
META_LOG_LEVEL: Final = "io.modelcontextprotocol/logLevel"
META_SUBSCRIPTION_ID: Final = "io.modelcontextprotocol/subscriptionId"


def is_modern(protocol_version: str | None) -> bool:
    """Does this version speak per-request metadata and MRTR instead of a session?"""
    return protocol_version in MODERN_VERSIONS


# --- events -----------------------------------------------------------------------------------

RESPONSE: Final = "mcp.response"
NOTIFICATION: Final = "mcp.notification"
SERVER_REQUEST: Final = "mcp.request"
CLIENT_RESPONSE: Final = "mcp.client_response"


class ResponseEvent(TypedDict):
    """Sent once per request: the whole JSON-RPC response or error."""

    type: Literal["mcp.response"]
    message: Message


class NotificationEvent(TypedDict):
    """Sent: a notification related to the call (progress, a log message)."""

    type: Literal["mcp.notification"]
    message: Message


class ServerRequestEvent(TypedDict):
    """Sent: a server-to-client request (sampling, elicitation, roots) caused by the call.

    ``unanswerable`` says why the client cannot take it (a capability it did not declare);
    the front of a 2026-07-28 client decides whether that refuses the question or the call.
    """

    type: Literal["mcp.request"]
    message: Message
    unanswerable: NotRequired[str]


class ClientResponseEvent(TypedDict):
    """Received: the client's answer to a server-to-client request of this call."""

    type: Literal["mcp.client_response"]
    message: Message


Event = ResponseEvent | NotificationEvent | ServerRequestEvent | ClientResponseEvent
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]


# --- who is calling ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``anonymous`` only exists while auth is off on loopback.

    ``project`` and ``roles`` are where tenancy and role-based policies read from; the
    authentication that made the principal fills them (API keys and tokens that know them).
    """

    name: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    project: str | None = None
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] | None = None
    """The OAuth scopes the caller's token grants; None when the credential carries none (an
    API key), so that scope requirements apply to tokens only."""


ANONYMOUS: Final = Principal("anonymous")

PRINCIPAL_KEY: Final = "portcullis.principal"
"""Where the HTTP tier's authentication leaves the :class:`Principal` in the HTTP scope."""
SUBJECT_TOKEN_KEY: Final = "portcullis.subject_token"
"""Where the JWT authenticator leaves the client's verified bearer token in the HTTP scope: only
for an RFC 8693 token exchange with the issuer, never to be sent to an upstream or logged."""


# --- the scope of one call --------------------------------------------------------------------


class MCPScope(TypedDict):
    """One JSON-RPC message from a client, with its context (see the module docstring)."""

    type: Literal["mcp"]
    method: str
    id: JSONValue
    params: dict[str, Any]
    principal: Principal
    session_id: str | None
    protocol_version: str
    client_capabilities: dict[str, Any]
    client_info: dict[str, Any]
    server: str | None
    http: dict[str, Any]
    state: dict[str, Any]
    log_level: NotRequired[str | None]


Scope = MCPScope
MCPApp = Callable[[MCPScope, Receive, Send], Awaitable[None]]

# The keys of ``scope["state"]`` that layers of this project read or write. A third party's
# middleware may add its own (prefix them with its name); these are the shared vocabulary.
TARGET_SERVER: Final = "target_server"
"""The upstream server the router resolved the message to (written by the router)."""
TARGET_NAME: Final = "target_name"
"""The tool, prompt or resource URI on that server (written by the router)."""
VARIES_BY_PRINCIPAL: Final = "varies_by_principal"
"""Set by a middleware whose answer depends on the caller, so it is never cached for everyone."""
SERVER_VISIBLE: Final = "server_visible"
"""``(server name) -> bool``, set by a policy layer on the gateway's own answers (initialize,
server/discover): whose instructions this caller may read (absent: every server's)."""
KNOWN_ANSWERS: Final = "known_answers"
"""Digest of a question → the client's answer, carried by a replayed MRTR call (front → channel)."""
PARKED: Final = "parked"
"""True while a modern call waits for its client's retry (written by the front, read upstream)."""


def make_scope(
    *,
    method: str,
    request_id: JSONValue,
    params: Any,
    principal: Principal,
    session_id: str | None,
    protocol_version: str,
    client_capabilities: dict[str, Any],
    client_info: dict[str, Any] | None,
    server: str | None,
    http: dict[str, Any],
    log_level: str | None = None,
    modern: bool = False,
) -> MCPScope:
    """The scope of one client message; both eras' fronts build theirs here, so they agree."""
    scope: MCPScope = {
        "type": "mcp",
        "method": method,
        "id": request_id,
        "params": params if isinstance(params, dict) else {},
        "principal": principal,
        "session_id": session_id,
        "protocol_version": protocol_version,
        "client_capabilities": client_capabilities,
        "client_info": client_info if isinstance(client_info, dict) else {},
        "server": server,
        "http": http,
        "state": {},
    }
    if modern:
        scope["log_level"] = log_level
    return scope


class _Keep:
    """Marks an argument of :func:`child_scope` left as the parent has it."""


_KEEP: Final = _Keep()


def child_scope(
    scope: MCPScope,
    *,
    method: str | None = None,
    request_id: JSONValue = _KEEP,
    params: dict[str, Any] | None = None,
    session_id: str | _Keep | None = _KEEP,
    fresh_state: bool = False,
) -> MCPScope:
    """A copy of ``scope`` with some parts changed, to pass inward (as Starlette's router does).

    It shares the parent's ``state`` (one call, one state) unless ``fresh_state``: a separate
    call made on the parent's behalf (a subscription for a listen stream, say) gets its own.
    """
    child: MCPScope = {**scope}
    if method is not None:
        child["method"] = method
    if request_id is not _KEEP:
        child["id"] = request_id
    if params is not None:
        child["params"] = params
    if not isinstance(session_id, _Keep):
        child["session_id"] = session_id
    if fresh_state:
        child["state"] = {}
    return child


# --- events a middleware sends ----------------------------------------------------------------


def response_event(message: Message) -> ResponseEvent:
    return {"type": RESPONSE, "message": message}


def error_event(
    scope: Scope,
    code: int,
    message: str,
    *,
    fault: Fault | None = None,
    data: Mapping[str, Any] | None = None,
) -> ResponseEvent:
    """The final event for ``scope``'s request, as an error."""
    return response_event(error_message(scope["id"], code, message, fault=fault, data=data))


def tool_error(scope: Scope, text: str) -> ResponseEvent:
    """A blocked or failed tool call stays a tool result (``isError``), as the spec wants."""
    result = {"content": [{"type": "text", "text": text}], "isError": True}
    return response_event(result_message(scope["id"], result))
