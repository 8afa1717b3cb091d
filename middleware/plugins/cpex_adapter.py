"""Plugins written for ContextForge's own framework (the ``cpex`` package), run by ours.

A ``kind`` whose class derives from ``cpex.framework.Plugin`` is constructed as cpex constructs
it, with a cpex ``PluginConfig`` made from the same entry (cpex maps the spec's modes itself),
then wrapped: each hook gets cpex's payload and context models, built from ours, and its cpex
``PluginResult`` comes back as ours (a modified payload, a violation, metadata). The plugin's
context state lives from the pre hook to the post hook of a call, as it does under cpex.

``cpex`` is an optional dependency (``pip install 'portcullis[cpex]'``); it is imported only when
a configuration names such a plugin.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel

from middleware.plugins.base import find_hook
from middleware.plugins.models import (
    PluginConfig,
    PluginContext,
    PluginResult,
    PluginViolation,
)

CPEX_HOOK_PAYLOADS = {
    "tool_pre_invoke": ("cpex.framework.hooks.tools", "ToolPreInvokePayload"),
    "tool_post_invoke": ("cpex.framework.hooks.tools", "ToolPostInvokePayload"),
    "prompt_pre_fetch": ("cpex.framework.hooks.prompts", "PromptPrehookPayload"),
    "prompt_post_fetch": ("cpex.framework.hooks.prompts", "PromptPosthookPayload"),
    "resource_pre_fetch": ("cpex.framework.hooks.resources", "ResourcePreFetchPayload"),
    "resource_post_fetch": ("cpex.framework.hooks.resources", "ResourcePostFetchPayload"),
}
"""The hooks cpex defines, and its payload class for each (ours beyond them are not offered)."""


def is_cpex_plugin(cls: type) -> bool:
    """Does ``cls`` derive from cpex's ``Plugin`` (checked without importing cpex)?"""
    return any(base.__module__.startswith("cpex.") and base.__name__ == "Plugin" for base in cls.__mro__)


def cpex_problems(entry: PluginConfig, cls: type) -> list[str]:
    where = f"plugins ({entry.name}).hooks"
    return [
        f"{where}: {hook} is ours, not cpex's; a cpex plugin serves {', '.join(CPEX_HOOK_PAYLOADS)}"
        for hook in entry.hooks
        if hook not in CPEX_HOOK_PAYLOADS
    ]


class CpexPlugin:
    """One cpex plugin instance behind our hook interface."""

    def __init__(self, entry: PluginConfig, cls: type) -> None:
        from cpex.framework.models import PluginConfig as CpexConfig

        data = entry.model_dump(exclude_none=True, exclude={"on_error", "capabilities", "max_content_size"})
        if entry.on_error is not None:
            data["on_error"] = entry.on_error.value
        self._cpex_config = CpexConfig.model_validate(data)
        self.plugin = cls(self._cpex_config)
        self.name = entry.name
        self._contexts: dict[int, Any] = {}
        for hook in entry.hooks:
            method = find_hook(self.plugin, hook)
            if method is not None:
                setattr(self, hook, self._hook(hook, method))

    async def initialize(self) -> None:
        await self.plugin.initialize()

    async def shutdown(self) -> None:
        await self.plugin.shutdown()

    def _hook(self, hook: str, method: Any) -> Any:
        module_name, class_name = CPEX_HOOK_PAYLOADS[hook]
        payload_type = getattr(__import__(module_name, fromlist=[class_name]), class_name)
        takes_extensions = len(inspect.signature(method).parameters) == 3

        async def call(payload: BaseModel, context: PluginContext) -> PluginResult[Any]:
            cpex_payload = payload_type.model_validate(_plain(payload))
            cpex_context = _cpex_context(context)
            result = await (
                method(cpex_payload, cpex_context, None)
                if takes_extensions
                else method(cpex_payload, cpex_context)
            )
            context.state.update(cpex_context.state)
            context.metadata.update(cpex_context.metadata)
            return _ours(result, type(payload), self.name)

        return call


def _plain(payload: BaseModel) -> dict[str, Any]:
    data = dict(payload.__dict__)
    if data.get("headers") is None:
        data.pop("headers", None)
    return data


def _cpex_context(context: PluginContext) -> Any:
    """cpex's context for one hook call, sharing our plugin context's state (same dict)."""
    from cpex.framework.models import GlobalContext as CpexGlobal
    from cpex.framework.models import PluginContext as CpexContext

    ours = context.global_context
    global_context = CpexGlobal(
        request_id=ours.request_id,
        user=ours.user,
        tenant_id=ours.tenant_id,
        server_id=ours.server_id,
        state=ours.state,
        metadata=ours.metadata,
    )
    return CpexContext(state=context.state, global_context=global_context, metadata=context.metadata)


def _ours(result: Any, payload_type: type[BaseModel], plugin_name: str) -> PluginResult[Any]:
    """A cpex ``PluginResult`` as ours (its payload as our payload type, as plain JSON)."""
    if result is None:
        return PluginResult()
    modified = getattr(result, "modified_payload", None)
    violation = getattr(result, "violation", None)
    return PluginResult(
        continue_processing=bool(getattr(result, "continue_processing", True)),
        modified_payload=None if modified is None else payload_type.model_validate(_json(modified)),
        violation=None if violation is None else _violation(violation, plugin_name),
        metadata=dict(getattr(result, "metadata", None) or {}),
    )


def _json(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True) if isinstance(model, BaseModel) else model


def _violation(violation: Any, plugin_name: str) -> PluginViolation:
    return PluginViolation(
        reason=str(violation.reason),
        description=str(violation.description),
        code=str(violation.code),
        details=dict(violation.details or {}),
        mcp_error_code=violation.mcp_error_code,
        plugin_name=plugin_name,
    )
