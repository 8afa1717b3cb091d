"""External plugins: MCP servers that run plugin hooks as tools, reached through a
:class:`PluginServer` the composition root builds (a supervised upstream: restarts, timeouts, TLS).

Two server shapes exist; the tools a server lists say which one it is:

- ``cpex``'s runtime (what ContextForge ships): ``get_plugin_configs()``,
  ``get_plugin_config(name)`` and ``invoke_hook(hook_type, plugin_name, payload, context)``; the
  context travels as ``{"state", "global_context": {"request_id", "server_id", ...},
  "metadata"}`` and the answer is JSON text ``{"plugin_name", "result": ...}`` or
  ``{"plugin_name", "error": ...}`` (an error in-band, not ``isError``).
- The specification's: ``get_plugin_config`` and one tool per hook, called with
  ``{"payload", "context"}`` and answering a ``PluginResult`` as JSON (text or structured).

The server's own configuration fills what the local entry leaves out (hooks, mode, priority...);
what the entry sets wins.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import orjson
from pydantic import BaseModel

from middleware.plugins.models import PluginConfig, PluginContext, PluginResult

log = logging.getLogger("portcullis.plugins")

CPEX_TOOLS = frozenset({"get_plugin_config", "invoke_hook"})


class PluginServer(Protocol):
    """An MCP connection to a plugin server (built by the composition root)."""

    async def start(self) -> None: ...

    async def tools(self) -> list[str]: ...

    async def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The ``tools/call`` result; raises on a transport failure or a JSON-RPC error."""
        ...

    async def close(self) -> None: ...


class ExternalPluginError(Exception):
    """The plugin server could not be used, or answered something that is not a result."""


class ExternalPlugin:
    """One plugin of a plugin server, with hook methods named after the hooks it serves."""

    def __init__(self, entry: PluginConfig, server: PluginServer) -> None:
        self.entry = entry
        self.name = entry.name
        self.server = server
        self.shape = ""

    async def initialize(self) -> None:
        await self.server.start()
        tools = set(await self.server.tools())
        self.shape = "cpex" if tools >= CPEX_TOOLS else "spec"
        if self.shape == "spec" and "get_plugin_config" not in tools:
            raise ExternalPluginError(
                "the server offers neither invoke_hook (cpex) nor get_plugin_config (the spec): "
                f"it lists {sorted(tools) or 'no tools'}"
            )
        remote = await self._remote_config()
        self.entry = merged(remote, self.entry)
        missing = [hook for hook in self.entry.hooks if self.shape == "spec" and hook not in tools]
        if missing:
            raise ExternalPluginError(f"the server has no tool for the hook(s) {', '.join(missing)}")
        for hook in self.entry.hooks:
            setattr(self, hook, self._hook(hook))
        log.info(
            "external plugin %s: %s server, hooks %s", self.name, self.shape, ", ".join(self.entry.hooks)
        )

    async def shutdown(self) -> None:
        await self.server.close()

    async def _remote_config(self) -> dict[str, Any]:
        answer = _decoded(await self.server.call("get_plugin_config", {"name": self.name}))
        if not isinstance(answer, dict) or not answer:
            raise ExternalPluginError(f"the server does not know a plugin named {self.name!r}")
        return answer

    def _hook(self, hook: str) -> Any:
        async def call(payload: BaseModel, context: PluginContext) -> PluginResult[Any]:
            wire_context = context.model_dump(mode="json")
            wire_payload = payload.model_dump(mode="json")
            if self.shape == "cpex":
                arguments = {
                    "hook_type": hook,
                    "plugin_name": self.name,
                    "payload": wire_payload,
                    "context": wire_context,
                }
                answer = _decoded(await self.server.call("invoke_hook", arguments))
                return self._cpex_result(answer, context)
            answer = _decoded(
                await self.server.call(hook, {"payload": wire_payload, "context": wire_context})
            )
            return PluginResult[Any].model_validate(answer)

        return call

    def _cpex_result(self, answer: Any, context: PluginContext) -> PluginResult[Any]:
        if not isinstance(answer, dict):
            raise ExternalPluginError("invoke_hook answered something that is not a JSON object")
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {}
            raise ExternalPluginError(
                f"the plugin server reported an error: {str(error.get('message', ''))[:200]}"
            )
        returned = answer.get("context")
        if isinstance(returned, dict):
            context.state.update(returned.get("state") or {})
            context.metadata.update(returned.get("metadata") or {})
        result = answer.get("result")
        if not isinstance(result, dict):
            raise ExternalPluginError("invoke_hook answered without a result")
        return PluginResult[Any].model_validate(result)


def merged(remote: dict[str, Any], local: PluginConfig) -> PluginConfig:
    """The server's configuration, overridden by every field the local entry sets."""
    known = set(PluginConfig.model_fields)
    data = {key: value for key, value in remote.items() if key in known and key not in ("kind", "mcp")}
    data.update(local.model_dump(exclude_unset=True))
    data["name"], data["kind"], data["mcp"] = local.name, local.kind, local.mcp
    return PluginConfig.model_validate(data)


def _decoded(result: dict[str, Any]) -> Any:
    """A tool result's JSON: its ``structuredContent``, else its first text block parsed."""
    if result.get("isError"):
        raise ExternalPluginError("the plugin server's tool failed (isError)")
    structured = result.get("structuredContent")
    if isinstance(structured, dict):
        # SDK servers wrap a function's return value as {"result": value}; a JSON string in it
        # is a tool that returned its answer as text.
        value = structured.get("result", structured) if set(structured) == {"result"} else structured
        return _json_text(value) if isinstance(value, str) else value
    for block in result.get("content") or ():
        if isinstance(block, dict) and block.get("type") == "text":
            return _json_text(block.get("text") or "null")
    raise ExternalPluginError("the plugin server answered without content")


def _json_text(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ExternalPluginError("the plugin server answered text that is not JSON") from None
