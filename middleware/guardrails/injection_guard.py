"""Prompt injection in what servers send back: tool results, resource contents, prompt messages,
and the messages of sampling and elicitation requests.

``config:``: ``results``: ``flag`` (default: invisible characters stripped, data-carrying links
and images to hosts not allowed neutralised, the answer marked), ``block``, ``off``;
``allowed_hosts``: hosts links and images may point to (``*.example.com`` allowed), added to the
gateway's ``[guardrails] allowed_hosts``.
"""

from __future__ import annotations

from typing import Any

from middleware.guardrails.base import Action, BuiltinGuard, Noted, flag_prefix, marked
from middleware.guardrails.walk import NOT_TEXT, rewrite
from middleware.plugins import PluginContext, PluginResult


class InjectionGuard(BuiltinGuard):
    """Instructions aimed at the model, hidden or not, in anything a server says."""

    def _hosts(self) -> tuple[str, ...]:
        return (*self.services.allowed_hosts, *(self.config.get("allowed_hosts") or ()))

    def warm_up(self) -> None:
        from middleware.guardrails.detectors.injection import find_injection

        find_injection("warm-up sample: nothing to find here", self._hosts())

    def scanned(self, value: Any, context: PluginContext, what: str) -> tuple[Any, list[Noted]]:
        """``value`` neutralised where it was flagged, and what was found."""
        from middleware.guardrails.detectors.injection import find_injection, neutralise

        action = self.action("results", Action.FLAG)
        if action is Action.OFF:
            return value, []
        hosts = self._hosts()
        noted: list[Noted] = []

        def change(text: str, path: str) -> str:
            findings = find_injection(text, hosts)
            if not findings:
                return text
            noted.extend(Noted(f, path, action) for f in findings)
            return neutralise(text, hosts) if action is Action.FLAG else text

        changed = rewrite(value, change, skip=NOT_TEXT)
        return changed, self.note(context, noted, what)

    def _answer(
        self, payload: Any, field: str, value: Any, context: PluginContext, what: str
    ) -> PluginResult[Any]:
        changed, noted = self.scanned(value, context, what)
        if not noted:
            return PluginResult()
        if any(n.action is Action.BLOCK for n in noted):
            return PluginResult(
                continue_processing=False, violation=self.violation(noted, "PROMPT_INJECTION")
            )
        found = [n.as_mark(self.name) for n in noted]
        if isinstance(changed, dict) and field in ("result", "content"):
            changed = marked(changed, context.state.pop("marks", []), flag_prefix(noted))
        return self.changed(payload, {field: changed}, context, found, redacted=False)

    async def tool_post_invoke(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        return self._answer(payload, "result", payload.result, context, f"tool {payload.name} result")

    async def prompt_post_fetch(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        return self._answer(payload, "result", payload.result, context, f"prompt {payload.prompt_id}")

    async def resource_post_fetch(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        return self._answer(payload, "content", payload.content, context, "resource contents")

    async def sampling_pre_create(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        return self._answer(payload, "params", payload.params, context, f"{payload.method} request")

    elicitation_pre_create = sampling_pre_create
