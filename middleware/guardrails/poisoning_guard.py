"""Tool poisoning, shadowing and confusable names in the definitions servers list.

Every string of a tool, prompt or resource definition is read (descriptions, titles, schemas at
any depth, enums, defaults). A poisoned definition is quarantined: hidden from lists, and a call
to it is refused with the reason (the hooks middleware asks this plugin about the one tool).

``config:``: ``definitions``: ``block`` (default: quarantine), ``flag`` (keep, mark its ``_meta``
and log), ``off``.
"""

from __future__ import annotations

from typing import Any

from middleware.guardrails.base import MARK, Action, Noted
from middleware.guardrails.definitions import DefinitionGuard, Owner, item_name, listed, pairs
from middleware.guardrails.detectors.findings import Finding
from middleware.plugins import ListPayload, PluginContext, PluginResult

_KNOWN_LIMIT = 10_000
"""Names remembered from lists (for confusable names across servers), at most."""


class PoisoningGuard(DefinitionGuard):
    """Quarantines definitions that carry instructions for the model or pose as another tool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._verdicts: dict[tuple[str, str], tuple[dict[str, Any], list[Finding]]] = {}

    def _findings(self, owner: Owner, item: dict[str, Any], others: set[str]) -> list[Finding]:
        """What is wrong with ``item``: judged once per definition object (lists repeat them)."""
        from middleware.guardrails.detectors.poisoning import find_poisoning

        key = owner or ("", item_name(item))
        cached = self._verdicts.get(key)
        if cached is not None and cached[0] is item:
            return cached[1]
        findings = find_poisoning(item, others - {item_name(item), key[1]})
        if len(self._verdicts) > _KNOWN_LIMIT:
            self._verdicts.clear()
        self._verdicts[key] = (item, findings)
        return findings

    def _others(self, kind: str, payload: ListPayload) -> set[str]:
        """Every tool name known: this list's and those seen before (other servers' included)."""
        known = self.services.known_tools
        if kind == "tool":
            names = {item_name(item) for item in payload.items}
            names |= {owner[1] for owner in payload.owners or () if owner is not None}
            if len(known) + len(names) <= _KNOWN_LIMIT:
                known |= names
            return known | names
        return set(known)

    async def judge_list(self, kind: str, payload: ListPayload, context: PluginContext) -> PluginResult[Any]:
        action = self.action("definitions", Action.BLOCK)
        if action is Action.OFF:
            return PluginResult()
        others = self._others(kind, payload)
        kept: list[tuple[dict[str, Any], Owner]] = []
        changed = False
        for item, owner in pairs(payload):
            trusted = owner is not None and self.action("definitions", action, owner[0]) is Action.OFF
            findings = [] if trusted else self._findings(owner, item, others)
            if not findings:
                kept.append((item, owner))
                continue
            changed = True
            where = f"{kind} {item_name(item)!r}" + (f" of server {owner[0]!r}" if owner else "")
            noted = self.note(context, [Noted(f, where, action) for f in findings], "definitions")
            if action is Action.BLOCK:
                payload.hidden[item_name(item)] = (
                    f"{where} is quarantined by {self.name}: {findings[0].reason}"
                )
            else:
                meta = {
                    **(item.get("_meta") or {}),
                    MARK: {"findings": [n.as_mark(self.name) for n in noted]},
                }
                kept.append(({**item, "_meta": meta}, owner))
        return listed(payload, kept) if changed else PluginResult()


class InstructionsScreen:
    """The server's ``instructions`` (from initialize) judged like a definition: poisoned ones are
    left out of the gateway's own ``initialize`` answer, with one log line per server and text."""

    def __init__(self) -> None:
        self._verdicts: dict[tuple[str, str], bool] = {}

    def __call__(self, server: str, instructions: str) -> bool:
        from middleware.guardrails.base import log
        from middleware.guardrails.detectors.poisoning import find_instructions_in_server_text

        key = (server, instructions)
        verdict = self._verdicts.get(key)
        if verdict is None:
            findings = find_instructions_in_server_text(instructions)
            verdict = not findings
            if findings:
                log.warning(
                    "guardrail poisoning: the instructions of server %s are left out of initialize: %s",
                    server,
                    findings[0].reason,
                )
            if len(self._verdicts) > 1000:
                self._verdicts.clear()
            self._verdicts[key] = verdict
        return verdict
