"""What the 2026-07-28 front checks before anything acts on a request: its per-request
metadata, its mirrored headers, its version and its method; each refusal raised as an error."""

from __future__ import annotations

from typing import Final

from middleware.protocol import (
    LEGACY_VERSIONS,
    META_CLIENT_CAPABILITIES,
    META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
    MODERN_VERSIONS,
    InvalidParams,
    InvalidRequest,
    Message,
    MethodNotFound,
)
from middleware.protocol.errors import HeaderMismatchError, UnsupportedProtocolVersion
from middleware.protocol.headers import HeaderMismatch, check_request
from middleware.protocol.http import ASGIScope

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


def check_modern_request(scope: ASGIScope, message: Message) -> None:
    """Refuse a request without the per-request metadata, whose headers disagree with its
    body, whose version we do not speak, or whose method this era does not have; checked in
    that order, before anything acts on the request."""
    if "method" not in message:
        raise InvalidRequest("a 2026-07-28 client sends no responses: retry the request")
    params = message.get("params") or {}
    meta = params.get("_meta")
    if (
        not isinstance(meta, dict)
        or not isinstance(meta.get(META_PROTOCOL_VERSION), str)
        or not isinstance(meta.get(META_CLIENT_CAPABILITIES), dict)
    ):
        raise InvalidParams(
            f"Invalid params: a 2026-07-28 request carries params._meta with {META_PROTOCOL_VERSION} "
            f"(a string) and {META_CLIENT_CAPABILITIES} (an object)"
        )
    try:
        check_request(_mirrored(scope), message)
    except HeaderMismatch as exc:
        raise HeaderMismatchError(f"Header mismatch: {exc}") from None
    version = meta[META_PROTOCOL_VERSION]
    if version not in MODERN_VERSIONS:
        supported = [*MODERN_VERSIONS, *LEGACY_VERSIONS]
        raise UnsupportedProtocolVersion(
            f"Unsupported protocol version {version!r}: use one of {', '.join(supported)} "
            "(the handshake versions through initialize)",
            data={"supported": supported, "requested": version},
        )
    method = message["method"]
    if method not in SERVED:
        hint = REPLACED.get(method, "this endpoint does not serve it")
        raise MethodNotFound(f"Method not found: {method!r} ({hint})")


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
