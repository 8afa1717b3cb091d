"""What the guardrails on definitions share: one judgement per list, whichever list it is, and
a list answer that keeps each item's owner beside it."""

from __future__ import annotations

from typing import Any

from middleware.guardrails.base import BuiltinGuard
from middleware.plugins import ListPayload, PluginContext, PluginResult

Owner = tuple[str, str] | None


def item_name(item: dict[str, Any]) -> str:
    """A definition's key in its list: a tool's or prompt's name, a resource's URI."""
    return str(item.get("name") or item.get("uri") or item.get("uriTemplate") or "")


def pairs(payload: ListPayload) -> list[tuple[dict[str, Any], Owner]]:
    """Each item with its owner (None where the router could not say)."""
    owners: list[Owner] = list(payload.owners) if payload.owners is not None else [None] * len(payload.items)
    return list(zip(payload.items, owners, strict=True))


def listed(payload: ListPayload, kept: list[tuple[dict[str, Any], Owner]]) -> PluginResult[Any]:
    """The list with only ``kept`` (items and owners stay aligned for the plugins after this one)."""
    update = {
        "items": [item for item, _ in kept],
        "owners": [owner for _, owner in kept] if payload.owners is not None else None,
    }
    return PluginResult(modified_payload=payload.model_copy(update=update))


class DefinitionGuard(BuiltinGuard):
    """A guardrail on the definitions every list hook shows: it asks for their owners."""

    wants_owners = True

    async def judge_list(self, kind: str, payload: ListPayload, context: PluginContext) -> PluginResult[Any]:
        raise NotImplementedError

    async def tools_post_list(self, payload: ListPayload, context: PluginContext) -> PluginResult[Any]:
        return await self.judge_list("tool", payload, context)

    async def prompts_post_list(self, payload: ListPayload, context: PluginContext) -> PluginResult[Any]:
        return await self.judge_list("prompt", payload, context)

    async def resources_post_list(self, payload: ListPayload, context: PluginContext) -> PluginResult[Any]:
        return await self.judge_list("resource", payload, context)

    async def resource_templates_post_list(
        self, payload: ListPayload, context: PluginContext
    ) -> PluginResult[Any]:
        return await self.judge_list("template", payload, context)
