"""JSON-RPC 2.0 as MCP uses it: message shapes, error codes, whose fault, and builders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

__all__ = [
    "FORBIDDEN",
    "HEADER_MISMATCH",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "MISSING_CLIENT_CAPABILITY",
    "PARSE_ERROR",
    "PAYLOAD_TOO_LARGE",
    "RATE_LIMITED",
    "REQUEST_CANCELLED",
    "REQUEST_REFUSALS",
    "REQUEST_TIMEOUT",
    "RESOURCE_NOT_FOUND",
    "UNAUTHORIZED",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "UPSTREAM_UNAVAILABLE",
    "Fault",
    "JSONValue",
    "Message",
    "blame_relayed",
    "error_message",
    "result_message",
]

JSONValue = Any
Message = dict[str, Any]

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
RATE_LIMITED: Final = -32029
"""A rate limit refused the call (HTTP 429 with Retry-After when it is the whole answer)."""

Fault = Literal["client", "policy", "upstream", "gateway"]
"""Whose fault an error is, carried as ``error.data.fault`` so nobody is blamed wrongly."""


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


REQUEST_REFUSALS: Final = frozenset({PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS})
"""Codes with which a server says the request itself was wrong."""


def blame_relayed(message: Message) -> Message:
    """An upstream's own error on its way to the client says whose fault it is, like ours: the
    client's when the upstream refused the request as malformed (-32700, -32600..-32602), else
    the upstream's. Its own ``data`` is kept; a ``data`` that is not an object is left alone."""
    error = message.get("error")
    if not isinstance(error, dict):
        return message
    data = error.get("data")
    if data is None:
        data = {}
    elif not isinstance(data, dict) or "fault" in data:
        return message
    fault: Fault = "client" if error.get("code") in REQUEST_REFUSALS else "upstream"
    error["data"] = {**data, "fault": fault}
    return message
