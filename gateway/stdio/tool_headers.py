"""The ``Mcp-Param-*`` headers of a 2026-07-28 tool call, for a client that cannot send them.

Over HTTP a modern client mirrors the arguments a tool's schema marks with ``x-mcp-header`` into
headers, and the gateway refuses a call without them; a stdio client has no headers and need
not know the rule. The bridge writes them from the schemas it sees in the ``tools/list`` answers
passing by; for a tool it has not seen listed, the gateway's refusal (-32020) makes it list the
tools itself and send the call once more.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from middleware.protocol import HEADER_MISMATCH, Message
from middleware.protocol.param_headers import param_headers
from upstream.transports.http_support import modern_version

MAX_PAGES: Final = 20
"""Pages of ``tools/list`` read for a refresh; a longer list is a misbehaving endpoint."""


class Requester(Protocol):
    async def request(self, message: Message) -> Message: ...


class ToolHeaders:
    """Tool schemas by name, as listed to this client, and the headers they ask for."""

    def __init__(self, requester: Requester) -> None:
        self._requester = requester
        self._schemas: dict[str, Any] = {}
        self._retried: set[Any] = set()

    def headers_for(self, message: Message, *, retried: bool = False) -> dict[str, str] | None:
        if message.get("method") != "tools/call" or modern_version(message) is None:
            return None
        if retried:
            self._retried.add(message["id"])
        params = message.get("params") or {}
        schema = self._schemas.get(str(params.get("name")))
        return param_headers(schema, params.get("arguments")) if schema else None

    def learn(self, asked: Message, answer: Message) -> None:
        """Remember the schemas of a ``tools/list`` answer."""
        result = answer.get("result")
        if asked.get("method") != "tools/list" or not isinstance(result, dict):
            return
        for tool in result.get("tools") or ():
            if isinstance(tool, dict) and isinstance(tool.get("name"), str):
                self._schemas[tool["name"]] = tool.get("inputSchema")

    def retry_worth(self, asked: Message, answer: Message) -> bool:
        """A modern call refused for want of ``Mcp-Param-*`` headers, not retried before."""
        if asked["id"] in self._retried:
            self._retried.discard(asked["id"])
            return False
        return asked.get("method") == "tools/call" and _wants_param_headers(answer.get("error"), asked)

    async def refresh(self, asked: Message) -> None:
        """List the tools with the call's own ``_meta`` (same identity, same version)."""
        meta = (asked.get("params") or {}).get("_meta") or {}
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"_meta": meta, **({"cursor": cursor} if cursor else {})}
            listing = {"jsonrpc": "2.0", "method": "tools/list", "params": params}
            try:
                answer = await self._requester.request(listing)
            except TimeoutError:
                return
            self.learn(listing, answer)
            cursor = (answer.get("result") or {}).get("nextCursor")
            if not isinstance(cursor, str):
                return


def _wants_param_headers(error: Any, asked: Message) -> bool:
    return (
        isinstance(error, dict)
        and error.get("code") == HEADER_MISMATCH
        and "mcp-param" in str(error.get("message", "")).lower()
        and modern_version(asked) is not None
    )
