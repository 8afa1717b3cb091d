"""The body of a POSTed JSON-RPC message: the headers that must announce it, reading it whole,
and parsing it; each refusal raised as the client error it is."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.front.inbound import too_deep
from middleware.protocol import InvalidRequest, ParseError
from middleware.protocol.errors import NotAcceptable, UnsupportedMediaType
from middleware.protocol.http import ASGIReceive, ASGIScope, header


def accepts(scope: ASGIScope, *wanted: bytes) -> bool:
    raw = header(scope, b"accept")
    if raw is None:
        return False
    types = {part.split(b";", 1)[0].strip().lower() for part in raw.split(b",")}
    if b"*/*" in types:
        return True
    return all(w in types or w.split(b"/")[0] + b"/*" in types for w in wanted)


async def read_post(scope: ASGIScope, receive: ASGIReceive) -> bytes | None:
    """The body of a POST whose headers say it is JSON-RPC; None if the client left."""
    if not accepts(scope, b"application/json", b"text/event-stream"):
        raise NotAcceptable(
            "Not Acceptable: the Accept header must list application/json and text/event-stream"
        )
    content_type = (header(scope, b"content-type") or b"").split(b";", 1)[0].strip().lower()
    if content_type != b"application/json":
        raise UnsupportedMediaType("Unsupported Media Type: send Content-Type: application/json")
    return await read_body(receive)


def parse_body(body: bytes, max_depth: int) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit"):  # orjson stops at 1,024 levels: not bad JSON
            raise InvalidRequest(f"Invalid Request: {too_deep(max_depth)}") from None
        raise ParseError(f"Parse error: the body is not valid JSON ({exc})") from None


async def read_body(receive: ASGIReceive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            return None
        chunks.append(event.get("body", b""))
        if not event.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
