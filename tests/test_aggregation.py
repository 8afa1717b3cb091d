"""Clients see every configured server as one, with names namespaced per server."""

from __future__ import annotations

import pytest
from mcp import MCPError

from tests.support import RunningGateway

MODES = ["legacy", "auto"]


@pytest.mark.parametrize("mode", MODES)
async def test_tools_of_both_servers_are_namespaced(gateway: RunningGateway, mode: str) -> None:
    async with gateway.client(mode=mode) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert "alpha__echo" in names and "beta__echo" in names
        assert "echo" not in names
        alpha = await client.call_tool("alpha__echo", {"text": "hi"})
        beta = await client.call_tool("beta__echo", {"text": "hi"})
        assert alpha.content[0].text == "alpha:hi"  # type: ignore[union-attr]
        assert beta.content[0].text == "beta:hi"  # type: ignore[union-attr]
