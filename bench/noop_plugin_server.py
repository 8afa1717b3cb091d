"""An external plugin server of the specification's shape whose one plugin (``NoOp``) changes
nothing: what an external hook costs (``python -m bench.plugins``)."""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("noop-plugin-server")
CONTINUE = json.dumps({"continue_processing": True})


@server.tool()
def get_plugin_config(name: str) -> str:
    """The configuration of ``NoOp``."""
    return (
        json.dumps({"name": "NoOp", "kind": "external", "hooks": ["tool_pre_invoke"]})
        if name == "NoOp"
        else "{}"
    )


@server.tool()
def tool_pre_invoke(payload: dict[str, Any], context: dict[str, Any]) -> str:
    """Let every call through."""
    return CONTINUE


if __name__ == "__main__":
    server.run("stdio")
