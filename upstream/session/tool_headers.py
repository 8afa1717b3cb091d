"""The ``Mcp-Param-*`` headers of a 2026-07-28 upstream's tool calls.

A tool whose input schema marks properties with ``x-mcp-header`` wants their values mirrored
into headers. Knowing that needs the server's ``tools/list`` answers, which only the session
layer understands; it hands the headers to the transport with the message, and a transport
without headers (stdio) ignores them.
"""

from __future__ import annotations

from typing import Any

from middleware.protocol import Message
from middleware.protocol.param_headers import annotated, param_headers


class ToolHeaders:
    """The annotated input schemas seen in ``tools/list`` answers, by tool name."""

    def __init__(self) -> None:
        self._schemas: dict[str, Any] = {}

    def learn(self, response: Message) -> None:
        """Keep the input schemas of a ``tools/list`` answer that ask for headers."""
        result = response.get("result")
        tools = result.get("tools") if isinstance(result, dict) else None
        for tool in tools if isinstance(tools, list) else ():
            if isinstance(tool, dict) and annotated(tool.get("inputSchema")):
                self._schemas[str(tool.get("name"))] = tool["inputSchema"]

    def for_call(self, params: dict[str, Any]) -> dict[str, str] | None:
        """The headers a ``tools/call`` with ``params`` must carry; None when there are none."""
        schema = self._schemas.get(str(params.get("name"))) if self._schemas else None
        if schema is None:
            return None
        return param_headers(schema, params.get("arguments")) or None
