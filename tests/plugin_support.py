"""What the plugin tests share: an upstream that echoes, and starting plugins whose server takes a
moment to listen."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from middleware.plugins import PluginConfigError, PluginManager
from middleware.protocol import RESPONSE, MCPScope, Receive, Send, result_message


class Echo:
    """Stands for the router: records each call's params and answers with its ``text`` argument."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    async def __call__(self, scope: MCPScope, receive: Receive, send: Send) -> None:
        self.asked.append(scope["params"])
        text = str((scope["params"].get("arguments") or {}).get("text"))
        result = {"content": [{"type": "text", "text": text}], "isError": False}
        await send({"type": RESPONSE, "message": result_message(scope["id"], result)})


async def initialize_when_listening(manager: PluginManager, what: str, attempts: int = 100) -> None:
    """Start ``manager``'s plugins, retrying while a plugin server started beside the test is not
    listening yet (about 0.2 s a try)."""
    for _ in range(attempts):
        try:
            await manager.initialize()
            return
        except PluginConfigError:
            await asyncio.sleep(0.2)
    pytest.fail(f"{what} did not start")
