"""The upstream error family: every failure of an upstream, as a member of the gateway's tree.

The lowest layer of ``upstream``: transports raise :class:`TransportClosed` (the peer is gone or
unusable), :class:`ProtocolViolation` (it broke JSON-RPC) and :class:`SessionExpired` (it
forgot our session, which the session layer renews); the session above turns them into
:class:`UpstreamError` for the calls they fail. Foreign exceptions (aiohttp, OS, timeouts, JSON
parsing) are mapped here, at the transport boundary, as httpx maps its transports' errors, so
none reaches the session or the router unnamed. Every class is the upstream's fault.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import aiohttp

from middleware.protocol import UPSTREAM_UNAVAILABLE
from middleware.protocol.errors import GatewayError, UpstreamFault, UpstreamProtocolError

__all__ = [
    "FOREIGN_ERRORS",
    "CredentialsRefused",
    "HandshakeRefused",
    "ProtocolViolation",
    "SessionExpired",
    "TransportClosed",
    "UpstreamBrokeProtocol",
    "UpstreamError",
    "mapped",
]


class TransportClosed(UpstreamFault):
    """The peer went away or cannot be used; ``detail`` says how (exit code, EOF, I/O error)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class CredentialsRefused(TransportClosed):
    """The peer answered HTTP 401 or 403 to our first contact: the fix is the credentials, not the
    peer (the stdio front, which holds its client's own credentials, tells the client so)."""


class ProtocolViolation(TransportClosed, UpstreamProtocolError):
    """The peer broke JSON-RPC in a way no single call can be blamed for (garbage on a pipe, an
    answer to an id we never sent): the session cannot be trusted any more, as after a crash."""


class SessionExpired(UpstreamFault):
    """The peer forgot the transport-level session (streamable HTTP answered 404 to a request
    carrying our ``Mcp-Session-Id``). Raised by ``receive()`` as an event, not an end: the
    session layer re-runs the handshake and sends ``request_id`` (None for the server's own
    stream) once more. ``session_id`` is the forgotten one, so one renewal serves every request
    that saw it."""

    def __init__(self, request_id: Any, session_id: str) -> None:
        super().__init__(f"forgot our session (request {request_id!r})")
        self.request_id = request_id
        self.session_id = session_id


class UpstreamError(UpstreamFault):
    """A named upstream could not answer; always the upstream's fault, never the client's."""

    def __init__(
        self,
        server: str,
        detail: str,
        *,
        code: int = UPSTREAM_UNAVAILABLE,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"upstream server {server!r} {detail}", code=code, data=data)
        self.server = server
        self.detail = detail


class UpstreamBrokeProtocol(UpstreamError, UpstreamProtocolError):
    """A named upstream sent something that is not valid JSON-RPC."""

    def __init__(self, server: str, problem: str) -> None:
        super().__init__(server, f"broke the protocol: {problem}")
        self.problem = problem


class HandshakeRefused(UpstreamError):
    """The upstream answered ``initialize`` with an error (kept, to read its code and data)."""

    def __init__(self, server: str, error: dict[str, Any]) -> None:
        super().__init__(server, f"refused initialize: {error.get('message')}")
        self.error = error


FOREIGN_ERRORS: Final = (aiohttp.ClientError, OSError, TimeoutError, ValueError)
"""What the libraries under a transport raise when the network, the pipe or the peer fails
(``orjson.JSONDecodeError`` is a ``ValueError``)."""


class mapped:
    """Around a transport's public method: a foreign exception leaves as :class:`TransportClosed`
    saying what happened (``describe`` words it without credentials); ours pass unchanged.

    A class, not a generator: it holds no state per use, so a transport keeps one and enters
    it on every send and receive at the cost of two method calls.
    """

    __slots__ = ("describe",)

    def __init__(self, describe: Callable[[BaseException], str]) -> None:
        self.describe = describe

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None and isinstance(exc, FOREIGN_ERRORS) and not isinstance(exc, GatewayError):
            raise TransportClosed(self.describe(exc)) from exc
