"""The gateway's error tree: raise one anywhere, and the front turns it into a wire error.

Every error carries its JSON-RPC code, whose fault it is (``error.data.fault``) and the HTTP
status a front uses when the error is the whole answer. A layer raises the most precise class;
exactly one place per front (:func:`error_for` and the front's own handler) turns any exception
into a JSON-RPC error, so a foreign exception that slipped through is reported as the gateway's
fault instead of crashing the exchange. Foreign exceptions (aiohttp, OS, JSON) are mapped to
this tree where they arise, at the transport boundary, as httpx maps its transports'.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from middleware.protocol.jsonrpc import (
    FORBIDDEN,
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MISSING_CLIENT_CAPABILITY,
    PARSE_ERROR,
    PAYLOAD_TOO_LARGE,
    REQUEST_TIMEOUT,
    UNAUTHORIZED,
    UNSUPPORTED_PROTOCOL_VERSION,
    UPSTREAM_UNAVAILABLE,
    Fault,
    Message,
    error_message,
)


class GatewayError(Exception):
    """Base of the tree: the gateway's own failure unless a subclass says otherwise."""

    code: ClassVar[int] = INTERNAL_ERROR
    fault: ClassVar[Fault] = "gateway"
    http_status: ClassVar[int] = 500

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.data: dict[str, Any] = dict(data or {})
        self.headers = list(headers)
        """HTTP headers a front adds when this error is the whole answer (``Allow``...)."""
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance may refine its class's code

    def to_message(self, request_id: Any) -> Message:
        """This error as the JSON-RPC error answering ``request_id``."""
        return error_message(request_id, self.code, self.message, fault=self.fault, data=self.data)


# --- the client's request -------------------------------------------------------------------


class ClientError(GatewayError):
    """The request is wrong: the client must change it."""

    code = INVALID_PARAMS
    fault = "client"
    http_status = 400


class ParseError(ClientError):
    code = PARSE_ERROR


class InvalidRequest(ClientError):
    code = INVALID_REQUEST


class InvalidParams(ClientError):
    code = INVALID_PARAMS


class MethodNotFound(ClientError):
    code = METHOD_NOT_FOUND
    http_status = 404


class TooLarge(ClientError):
    """Over one of the configured size, width or depth limits."""

    code = PAYLOAD_TOO_LARGE
    http_status = 413


class HeaderMismatchError(ClientError):
    """2026-07-28: a mirrored header disagrees with the body (or is sent twice)."""

    code = HEADER_MISMATCH


class MissingClientCapability(ClientError):
    """2026-07-28: the call needs a capability the client did not declare."""

    code = MISSING_CLIENT_CAPABILITY


class UnsupportedProtocolVersion(ClientError):
    """2026-07-28: a protocol version the gateway does not speak (``data`` lists those it does)."""

    code = UNSUPPORTED_PROTOCOL_VERSION


# --- the HTTP request around the message (statuses of their own, JSON-RPC's Invalid Request) ---


class MethodNotAllowed(InvalidRequest):
    http_status = 405

    def __init__(self, message: str, *, allow: str) -> None:
        super().__init__(message, headers=[(b"allow", allow.encode())])


class NotAcceptable(InvalidRequest):
    http_status = 406


class UnsupportedMediaType(InvalidRequest):
    http_status = 415


class NotFoundError(InvalidRequest):
    """No such path or session (a JSON-RPC error, unlike an unknown method)."""

    http_status = 404


class Conflict(InvalidRequest):
    http_status = 409


class NotAuthenticated(ClientError):
    """No valid credential: the client must present one (a policy refusal is :class:`Unauthorized`)."""

    code = UNAUTHORIZED
    http_status = 401


class ForbiddenOrigin(ClientError):
    """An Origin the settings do not allow (a browser page of another site)."""

    code = FORBIDDEN
    http_status = 403


class MisdirectedRequest(ClientError):
    """The Host header names a host this gateway does not serve (the DNS rebinding guard)."""

    code = FORBIDDEN
    http_status = 421


# --- policy -----------------------------------------------------------------------------------


class PolicyError(GatewayError):
    """A middleware refused the request: nothing is broken."""

    code = FORBIDDEN
    fault = "policy"
    http_status = 403


class Unauthorized(PolicyError):
    code = UNAUTHORIZED
    http_status = 401


# --- the gateway --------------------------------------------------------------------------


class Overloaded(GatewayError):
    """The gateway is at a limit of its own (sessions...): retry later."""

    http_status = 503


# --- upstream -------------------------------------------------------------------------------


class UpstreamFault(GatewayError):
    """An upstream server failed, answered wrongly, or is unreachable: never the client's fault."""

    code = UPSTREAM_UNAVAILABLE
    fault = "upstream"
    http_status = 502


class UpstreamTimeout(UpstreamFault):
    code = REQUEST_TIMEOUT
    http_status = 504


class UpstreamProtocolError(UpstreamFault):
    """The upstream broke the protocol (a malformed JSON-RPC envelope, garbage on its pipe)."""


def error_for(exc: BaseException) -> GatewayError:
    """Any exception as a member of the tree: foreign ones are the gateway's own fault."""
    if isinstance(exc, GatewayError):
        return exc
    return GatewayError("internal gateway error")
