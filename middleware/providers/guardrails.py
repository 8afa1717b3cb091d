"""Guardrail providers on the plugin hooks: a provider's input guardrail checks what goes to a
tool or prompt, its output guardrail what comes back, and an unsafe verdict blocks the call as a
plugin violation does (logged with the provider, never the content).

``validate`` is called as the provider defines it: output guardrails first as Enkrypt's gateway
calls them, ``validate(response_content=..., original_request=...)``, and if the signature takes
no such keywords, as the seed's examples define them, ``validate(request)``.
"""

from __future__ import annotations

import inspect
from typing import Any

import orjson

from middleware.plugins import Plugin, PluginConfig, PluginContext, PluginResult, PluginViolation
from middleware.providers.models import GuardrailAction, GuardrailRequest, GuardrailResponse

INPUT_HOOKS = ("tool_pre_invoke", "prompt_pre_fetch")
OUTPUT_HOOKS = ("tool_post_invoke", "prompt_post_fetch", "resource_post_fetch")


class GuardrailPlugin(Plugin):
    """One guardrail provider, run as a plugin on the input and output hooks it can serve."""

    def __init__(self, provider: Any, config: dict[str, Any], index: int) -> None:
        name = f"guardrails:{_provider_name(provider)}"
        self.input = provider.create_input_guardrail(config)
        self.output = provider.create_output_guardrail(config)
        hooks = [*(INPUT_HOOKS if self.input else ()), *(OUTPUT_HOOKS if self.output else ())]
        super().__init__(PluginConfig(name=name, kind="guardrail-provider", hooks=hooks, priority=index))

    async def shutdown(self) -> None:
        for guardrail in {id(g): g for g in (self.input, self.output) if g is not None}.values():
            close = getattr(guardrail, "close", None)
            if callable(close):
                await close()

    async def tool_pre_invoke(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        request = GuardrailRequest(
            content=_text(payload.args), tool_name=payload.name, tool_args=payload.args,
            server_name=context.global_context.server_id,
        )  # fmt: skip
        return _verdict(await self.input.validate(request))

    async def prompt_pre_fetch(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        request = GuardrailRequest(
            content=_text(payload.args), tool_name=payload.prompt_id, tool_args=payload.args
        )
        return _verdict(await self.input.validate(request))

    async def tool_post_invoke(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        return await self._output(_result_text(payload.result), payload.name, context)

    async def prompt_post_fetch(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        return await self._output(_result_text(payload.result), payload.prompt_id, context)

    async def resource_post_fetch(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        return await self._output(_result_text(payload.content), payload.uri, context)

    async def _output(self, content: str, name: str, context: PluginContext) -> PluginResult[Any]:
        original = GuardrailRequest(content="", tool_name=name, server_name=context.global_context.server_id)
        validate = self.output.validate
        parameters = inspect.signature(validate).parameters
        if "response_content" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            response = await validate(response_content=content, original_request=original)
        else:
            response = await validate(GuardrailRequest(content=content, tool_name=name))
        return _verdict(response)


def _provider_name(provider: Any) -> str:
    name = getattr(provider, "get_name", None)
    return str(name()) if callable(name) else type(provider).__name__


def _verdict(response: GuardrailResponse) -> PluginResult[Any]:
    if response.is_safe and response.action is not GuardrailAction.BLOCK:
        return PluginResult()
    first = response.violations[0] if response.violations else None
    code = str(getattr(first.violation_type, "value", first.violation_type)).upper() if first else "UNSAFE"
    violation = PluginViolation(
        reason=first.message if first else "the guardrail found the content unsafe",
        description=f"{len(response.violations)} violation(s)",
        code=code,
        details={"severity": max((v.severity for v in response.violations), default=1.0)},
    )
    return PluginResult(continue_processing=False, violation=violation)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value or {}, default=str).decode()


def _result_text(result: Any) -> str:
    """The text a client would read: text blocks and text resource contents, joined."""
    if not isinstance(result, dict):
        return _text(result)
    parts = []
    for block in [
        *(result.get("content") or []),
        *(result.get("contents") or []),
        *(result.get("messages") or []),
    ]:
        inner = block.get("content") if isinstance(block, dict) and "role" in block else block
        if isinstance(inner, dict) and isinstance(inner.get("text"), str):
            parts.append(inner["text"])
    if isinstance(result.get("structuredContent"), dict):
        parts.append(_text(result["structuredContent"]))
    return "\n".join(parts)
