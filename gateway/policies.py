"""Policies from settings, placed in the MCP stack (issue 12: stub until built)."""

from __future__ import annotations

from gateway.settings import Settings
from middleware.protocol import MCPApp
from upstream.routing.router import Router


def with_policies(app: MCPApp, settings: Settings, router: Router) -> MCPApp:
    return app
