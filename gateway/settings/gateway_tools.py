"""``[gateway_tools]``: the seed's gateway tools on /mcp, off unless a project opts in.

They show every caller that opts in which servers run and let it batch calls, so they are off
by default and offered per project: an operator decides who may look at the gateway itself.
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from pydantic import Field, field_validator

from gateway.settings.base import _Strict

ToolName = Literal[
    "list_all_servers",
    "get_server_info",
    "discover_all_tools",
    "secure_call_tools",
    "get_cache_status",
    "clear_cache",
    "get_timeout_metrics",
]


def _schema(properties: dict[str, Any] | None = None, required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties or {}, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


SERVER_NAME: Final = {"type": "string", "description": "a server name, as list_all_servers gives it"}
READ_ONLY: Final = {"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False}
DEFINITIONS: Final[dict[str, tuple[str, dict[str, Any], dict[str, Any]]]] = {
    "list_all_servers": (
        "The servers behind this gateway: name, state and protocol era.",
        _schema(),
        READ_ONLY,
    ),
    "get_server_info": (
        "One server: its state, era, how many tools, prompts and resources you may use, its instructions.",
        _schema({"server_name": SERVER_NAME}, ("server_name",)),
        READ_ONLY,
    ),
    "discover_all_tools": (
        "The tools you may call, per server (all servers, or only server_name).",
        _schema({"server_name": SERVER_NAME}),
        READ_ONLY,
    ),
    "secure_call_tools": (
        "Call several tools in order; each call is judged by the gateway's policies and guardrails "
        "as if made by itself, and its result or refusal comes back in the same place.",
        _schema(
            {
                "server_name": {
                    **SERVER_NAME,
                    "description": "when given, tools are named as that server does",
                },
                "tool_calls": {
                    "type": "array",
                    "minItems": 1,
                    "items": _schema(
                        {"tool": {"type": "string"}, "arguments": {"type": "object"}}, ("tool",)
                    ),
                },
            },
            ("tool_calls",),
        ),
        {"readOnlyHint": False, "destructiveHint": True, "openWorldHint": True},
    ),
    "get_cache_status": ("The gateway's caches: entries, hits and misses.", _schema(), READ_ONLY),
    "clear_cache": (
        "Empty the gateway's caches (of one server, or all).",
        _schema({"server_name": SERVER_NAME, "cache_type": {"type": "string"}}),
        {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False},
    ),
    "get_timeout_metrics": ("Timeouts per operation type, and how often each fired.", _schema(), READ_ONLY),
}
BACKED_BY: Final = {"get_cache_status": "cache", "clear_cache": "cache", "get_timeout_metrics": "timeouts"}
"""The tools whose backing is another part of the gateway: offered only with it."""
PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class GatewayToolsSettings(_Strict):
    """The gateway's own tools on /mcp, off unless a project opts in."""

    enabled: bool = Field(False, description="offer the gateway tools on /mcp at all")
    prefix: str = Field(
        "portcullis", description="their namespace: PREFIX + routing separator + tool, like a server's"
    )
    projects: list[str] = Field([], description="project-name globs whose callers get the tools")
    without_project: bool = Field(
        False, description="callers without a project (auth off, [auth.api_keys]) get them too"
    )
    tools: list[ToolName] | None = Field(
        None, description="offer only these (default: every tool whose backing this gateway runs)"
    )
    max_batch: int = Field(10, ge=1, le=100, description="most calls in one secure_call_tools")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not PREFIX.match(value):
            raise ValueError("a prefix is 1-63 letters, digits, '_' or '-', starting with a letter or digit")
        return value


def prefix_problems(
    tools: GatewayToolsSettings, server_prefixes: dict[str, str], separator: str
) -> list[str]:
    """The gateway tools' namespace must be nobody else's: a server whose names could be the
    same (the same prefix, or one inside the other's namespace) is refused at start, with the fix."""
    if not tools.enabled:
        return []
    ours = tools.prefix
    return [
        f"gateway_tools.prefix: {ours!r} and the prefix {prefix!r} of server {server!r} may name the "
        f"same tools; set another `prefix` in [gateway_tools] or on [servers.{server}]"
        for server, prefix in server_prefixes.items()
        if prefix
        and (prefix == ours or prefix.startswith(ours + separator) or ours.startswith(prefix + separator))
    ]
