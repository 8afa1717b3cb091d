"""The connections to external plugin servers: each one a supervised upstream, built from the
plugin's ``mcp:`` section exactly as a ``[servers.NAME]`` table would be (stdio: a process
restarted with backoff and killed with its group; HTTP: pooled, with mTLS), so a plugin server
gets everything an MCP server behind the gateway gets.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.remote import http_connector
from gateway.settings import ServerSettings, TlsSettings
from middleware.plugins.external import ExternalPluginError
from middleware.plugins.models import MCPConfig, PluginConfig
from middleware.protocol import Message
from upstream.pool.supervisor import RestartPolicy, ServerSpec, ServerSupervisor
from upstream.transports.reaper import Reaper
from upstream.transports.stdio import StdioTransport

HTTP_TRANSPORTS = {"STREAMABLEHTTP": "streamable-http", "HTTP": "streamable-http", "SSE": "sse"}


class SupervisedPluginServer:
    """:class:`~middleware.plugins.external.PluginServer` over a supervised MCP connection."""

    def __init__(self, entry: PluginConfig, reaper: Reaper) -> None:
        assert entry.mcp is not None
        name = f"plugin-{entry.name}"
        spec = ServerSpec(
            name=name,
            connect=_connector(name, entry.mcp, reaper),
            start_eagerly=True,
            restart=RestartPolicy(),
            era="legacy",  # plugin servers are tool servers of the 2025 revisions (cpex's are)
            probe_timeout=None,
        )
        self._supervisor = ServerSupervisor(
            spec,
            client_info={"name": "portcullis-plugins", "version": __version__},
            on_notification=_ignore,
            on_restart=lambda _: None,
        )

    async def start(self) -> None:
        await self._supervisor.connection()

    async def tools(self) -> list[str]:
        result = await self._request("tools/list", None)
        return [str(tool.get("name")) for tool in result.get("tools") or () if isinstance(tool, dict)]

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return await self._request("tools/call", {"name": tool, "arguments": arguments})

    async def close(self) -> None:
        await self._supervisor.close()

    async def _request(self, method: str, params: dict[str, Any] | None) -> dict[str, Any]:
        connection = await self._supervisor.connection()
        response = await connection.request(method, params)
        if "error" in response:
            message = str((response.get("error") or {}).get("message", ""))[:200]
            raise ExternalPluginError(f"{method} failed on the plugin server: {message}")
        result = response.get("result")
        if not isinstance(result, dict):
            raise ExternalPluginError(f"{method} answered without a result")
        return result


def _ignore(server: str, message: Message) -> None:
    """Plugin servers' notifications (logs, list changes) concern nobody's session."""


def _connector(name: str, mcp: MCPConfig, reaper: Reaper) -> Any:
    if mcp.proto == "STDIO":
        command, args = _command(mcp)
        return partial(
            StdioTransport, name, command, tuple(args), env=dict(mcp.env or {}), cwd=mcp.cwd, reaper=reaper
        )
    tls = mcp.tls
    server = ServerSettings(
        url=mcp.url,
        transport=HTTP_TRANSPORTS[mcp.proto],
        tls=None
        if tls is None
        else TlsSettings(
            ca_bundle=tls.ca_bundle, client_cert=tls.certfile, client_key=tls.keyfile, verify=tls.verify
        ),
    )
    return http_connector(name, server)


def _command(mcp: MCPConfig) -> tuple[str, list[str]]:
    """``cmd`` as given; a ``script`` run as cpex runs it (``.py`` with this Python, ``.sh`` with sh)."""
    if mcp.cmd:
        return mcp.cmd[0], list(mcp.cmd[1:])
    assert mcp.script is not None
    suffix = Path(mcp.script).suffix
    if suffix == ".py":
        return sys.executable, [mcp.script]
    if suffix == ".sh":
        return "sh", [mcp.script]
    return mcp.script, []
