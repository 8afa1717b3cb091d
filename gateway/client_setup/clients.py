"""Where each MCP client keeps its servers, and the shape of one entry in its file.

Sources (read 2026-12-07; each client changes these now and then, so ``--config`` always wins):

- Claude Desktop: https://modelcontextprotocol.io/quickstart/user (``claude_desktop_config.json``,
  ``mcpServers`` of ``command``/``args``/``env``). macOS ``~/Library/Application Support/Claude/``,
  Windows ``%APPDATA%\\Claude\\``. There is no official Linux build; ``~/.config/Claude/`` is where
  the community builds look, unconfirmed by Anthropic. The file holds local (stdio) servers only:
  remote servers are added as connectors in the app (Settings > Connectors), which take OAuth, not
  our bearer key, and cannot reach a gateway on localhost. So we always write a stdio entry, which
  forwards to the gateway's URL (``portcullis stdio --url``) when ``--http`` was asked.
- Claude Code: https://code.claude.com/docs/en/mcp ("MCP installation scopes"): user scope is the
  top-level ``mcpServers`` of ``~/.claude.json`` (every platform; ``%USERPROFILE%`` on Windows),
  project scope the ``mcpServers`` of ``.mcp.json`` at the project root (pass ``--config``).
  Remote entries are ``{"type": "http", "url", "headers"}``. Not confirmed: whether
  ``CLAUDE_CONFIG_DIR`` moves ``.claude.json``; Claude Code rewrites this file while it runs, so
  install while it is closed.
- Cursor: https://cursor.com/docs/mcp (``~/.cursor/mcp.json`` on every platform, project
  ``.cursor/mcp.json``; ``mcpServers`` with ``url`` + ``headers`` for Streamable HTTP).
- VS Code: https://code.visualstudio.com/docs/copilot/reference/mcp-configuration (``servers``,
  ``{"type": "http", "url", "headers"}``; a JSONC file; workspace ``.vscode/mcp.json``, user one
  "in your user profile"). The user profile's folder is the one of ``settings.json`` given in
  https://code.visualstudio.com/docs/configure/settings (``%APPDATA%\\Code\\User``,
  ``~/Library/Application Support/Code/User``, ``~/.config/Code/User``): that ``mcp.json`` sits in
  it is what "MCP: Open User Configuration" opens for the default profile, not stated in the docs
  in so many words. Other profiles (``User/profiles/<id>/mcp.json``) and Insiders need ``--config``.
- Windsurf: https://docs.windsurf.com/windsurf/cascade/mcp (``~/.codeium/windsurf/mcp_config.json``,
  ``%USERPROFILE%`` on Windows; ``mcpServers``, remote entries use ``serverUrl`` + ``headers``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.client_setup.target import Target

Entry = dict[str, Any]


@dataclass(frozen=True)
class Client:
    """One MCP client: its file, the key its servers live under, and how it spells an entry."""

    name: str
    title: str
    servers_key: str
    docs: str
    remote: Callable[[str, dict[str, str]], Entry] | None
    """The native remote entry for a URL and headers; None: the client's file takes stdio only."""
    stdio_type: bool
    """Whether a stdio entry carries ``"type": "stdio"`` (the clients whose HTTP entries are typed)."""

    def entry(self, target: Target) -> Entry:
        """The entry that makes this client use the gateway ``target`` describes."""
        if target.url is not None and self.remote is not None:
            headers = {"Authorization": f"Bearer {target.key}"} if target.key else {}
            return self.remote(target.url, headers)
        stdio: Entry = {"type": "stdio"} if self.stdio_type else {}
        stdio |= {"command": target.command[0], "args": [*target.command[1:], *target.stdio_args()]}
        if target.key:
            stdio["env"] = {"PORTCULLIS_API_KEY": target.key}
        return stdio


def _typed_http(url: str, headers: dict[str, str]) -> Entry:
    return {"type": "http", "url": url, **({"headers": headers} if headers else {})}


def _cursor(url: str, headers: dict[str, str]) -> Entry:
    return {"url": url, **({"headers": headers} if headers else {})}


def _windsurf(url: str, headers: dict[str, str]) -> Entry:
    return {"serverUrl": url, **({"headers": headers} if headers else {})}


CLIENTS: dict[str, Client] = {
    client.name: client
    for client in (
        Client(
            "claude-desktop", "Claude Desktop", "mcpServers",
            "https://modelcontextprotocol.io/quickstart/user", None, False,
        ),
        Client(
            "claude-code", "Claude Code", "mcpServers",
            "https://code.claude.com/docs/en/mcp", _typed_http, True,
        ),
        Client("cursor", "Cursor", "mcpServers", "https://cursor.com/docs/mcp", _cursor, False),
        Client(
            "vscode", "VS Code", "servers",
            "https://code.visualstudio.com/docs/copilot/reference/mcp-configuration", _typed_http, True,
        ),
        Client(
            "windsurf", "Windsurf", "mcpServers",
            "https://docs.windsurf.com/windsurf/cascade/mcp", _windsurf, False,
        ),
    )
}  # fmt: skip


def default_path(
    client: str, platform: str = sys.platform, env: Mapping[str, str] = os.environ, home: Path | None = None
) -> Path:
    """Where ``client`` reads its user-wide configuration on ``platform`` (see the module's sources)."""
    home = home or Path.home()
    if client == "claude-code":
        return home / ".claude.json"
    if client == "cursor":
        return home / ".cursor" / "mcp.json"
    if client == "windsurf":
        return home / ".codeium" / "windsurf" / "mcp_config.json"
    folder, file = {"claude-desktop": ("Claude", "claude_desktop_config.json")}.get(
        client, (os.path.join("Code", "User"), "mcp.json")
    )
    if platform == "darwin":
        return home / "Library" / "Application Support" / folder / file
    if platform == "win32":
        return Path(env.get("APPDATA") or home / "AppData" / "Roaming") / folder / file
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / folder / file
