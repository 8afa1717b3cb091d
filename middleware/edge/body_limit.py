"""Refuse request bodies over a size limit with 413, before anything parses them.

The body is read here (capped) and replayed to the app as one chunk, as the MCP SDK's
transport security does; MCP messages are read whole anyway, so this costs no extra copy.
"""

from __future__ import annotations

from middleware.edge.refusals import log_refusal
from middleware.protocol.errors import TooLarge
from middleware.protocol.http import ASGIApp, ASGIReceive, ASGIScope, ASGISend, header, send_error

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await receive()
            if event["type"] == "http.disconnect":
                return
            chunk: bytes = event.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not event.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        replayed = False

        async def replay() -> dict[str, object]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: ASGIScope, send: ASGISend) -> None:
        log_refusal(scope, 413, f"the body is over http.max_body_bytes ({self.max_bytes})")
        await send_error(
            send,
            TooLarge(
                f"request body is larger than the limit of {self.max_bytes} bytes "
                "(http.max_body_bytes in settings)"
            ),
        )
