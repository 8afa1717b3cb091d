"""Rate limits and concurrency caps from settings (issue 12: stub until built)."""

from __future__ import annotations

from gateway.settings import Settings
from middleware.protocol import MCPApp


class RateLimiting:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def wrap(self, app: MCPApp) -> MCPApp:
        return app

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
