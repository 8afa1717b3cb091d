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
from typing import Any, Final, Literal

JSONValue = Any
Message = dict[str, Any]
Scope = dict[str, Any]
Event = dict[str, Any]
Receive = Callable[[], Awaitable[Event]]
Send = Callable[[Event], Awaitable[None]]
MCPApp = Callable[[Scope, Receive, Send], Awaitable[None]]

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


RESPONSE: Final = "mcp.response"
NOTIFICATION: Final = "mcp.notification"
SERVER_REQUEST: Final = "mcp.request"
CLIENT_RESPONSE: Final = "mcp.client_response"

# JSON-RPC and MCP error codes.
PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
REQUEST_TIMEOUT: Final = -32001
RESOURCE_NOT_FOUND: Final = -32002
REQUEST_CANCELLED: Final = -32800
HEADER_MISMATCH: Final = -32020
MISSING_CLIENT_CAPABILITY: Final = -32021
UNSUPPORTED_PROTOCOL_VERSION: Final = -32022
# Gateway codes, in the implementation-defined server-error range.
UNAUTHORIZED: Final = -32010
FORBIDDEN: Final = -32011
UPSTREAM_UNAVAILABLE: Final = -32012
PAYLOAD_TOO_LARGE: Final = -32013

Fault = Literal["client", "policy", "upstream", "gateway"]
"""Whose fault an error is, carried as ``error.data.fault`` so nobody is blamed wrongly."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``anonymous`` only exists while auth is off on loopback."""

    name: str
    attributes: Mapping[str, str] = field(default_factory=dict)


ANONYMOUS: Final = Principal("anonymous")

PRINCIPAL_KEY: Final = "portcullis.principal"
"""Where the HTTP tier's authentication leaves the :class:`Principal` in the HTTP scope."""


def result_message(request_id: JSONValue, result: Mapping[str, Any]) -> Message:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_message(
    request_id: JSONValue,
    code: int,
    message: str,
    *,
    fault: Fault | None = None,
    data: Mapping[str, Any] | None = None,
) -> Message:
    """A JSON-RPC error message; ``fault`` says who must act to fix it."""
    error: dict[str, Any] = {"code": code, "message": message}
    extra: dict[str, Any] = dict(data or {})
    if fault is not None:
        extra["fault"] = fault
    if extra:
        error["data"] = extra
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def response_event(message: Message) -> Event:
    return {"type": RESPONSE, "message": message}


def error_event(
    scope: Scope,
    code: int,
    message: str,
    *,
    fault: Fault | None = None,
    data: Mapping[str, Any] | None = None,
) -> Event:
    """The final event for ``scope``'s request, as an error."""
    return response_event(error_message(scope["id"], code, message, fault=fault, data=data))


def tool_error(scope: Scope, text: str) -> Event:
    """A blocked or failed tool call stays a tool result (``isError``), as the spec wants."""
    result = {"content": [{"type": "text", "text": text}], "isError": True}
    return response_event(result_message(scope["id"], result))
