"""Plain-ASGI answers for the HTTP tier: a JSON body, or a :class:`GatewayError` as its status and
JSON-RPC error (the one way the HTTP tier refuses a request)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

from middleware.protocol.errors import GatewayError

ASGISend = Callable[[dict[str, Any]], Awaitable[None]]
ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]
ASGIScope = dict[str, Any]
ASGIApp = Callable[[ASGIScope, ASGIReceive, ASGISend], Awaitable[None]]


async def send_json(
    send: ASGISend,
    status: int,
    body: Any,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def send_error(
    send: ASGISend,
    exc: GatewayError,
    *,
    request_id: Any = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """``exc`` as the whole HTTP answer: its status, its headers and its JSON-RPC error."""
    await send_json(send, exc.http_status, exc.to_message(request_id), [*exc.headers, *headers])


def header(scope: ASGIScope, name: bytes) -> bytes | None:
    """The first value of a (lower-case) request header."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None
