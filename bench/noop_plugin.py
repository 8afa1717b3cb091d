"""A native plugin that changes nothing, on ``tool_pre_invoke`` and ``tool_post_invoke``: what the
plugin framework costs per call (``python -m bench instructions --stack plugins-noop``)."""

from __future__ import annotations

from typing import Any

from middleware.plugins import Plugin, PluginContext, PluginResult


class NoOp(Plugin):
    async def tool_pre_invoke(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        return PluginResult()

    async def tool_post_invoke(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        return PluginResult()
