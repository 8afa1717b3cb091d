"""What every built-in guardrail shares: its actions, its services, its marks and its log lines.

Each guardrail is a native plugin of the plugin framework, so modes, priority, conditions and the
framework's own audit apply to it unchanged. Within its mode, a guardrail's ``config:`` chooses
an action per direction: ``block``, ``redact``, ``flag`` or ``off``.

A flagged or redacted answer carries a mark the client can see: ``_meta["io.portcullis/guardrails"]``
lists what was found (detector, kind, where, action; never the value), and a flagged tool result's
first text starts with ``[Portcullis flagged: ...]``. The audit trail names such a change by what
was done: ``redact`` when a finding was redacted, ``flag`` when findings were only flagged (the
answer marked and let through), never the framework's generic ``modify``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from middleware.guardrails.detectors.findings import Finding
from middleware.guardrails.store import GuardrailStore, MemoryStore
from middleware.guardrails.vault import Vault
from middleware.plugins import Plugin, PluginConfig, PluginContext, PluginResult, PluginViolation
from middleware.plugins.runs import AUDIT_AS

log = logging.getLogger("portcullis.guardrails")

MARK = "io.portcullis/guardrails"
"""The ``_meta`` key of a guardrail's mark on an answer."""


class Action(StrEnum):
    BLOCK = "block"
    REDACT = "redact"
    FLAG = "flag"
    OFF = "off"


PAST = {Action.BLOCK: "blocked", Action.REDACT: "redacted", Action.FLAG: "flagged", Action.OFF: "ignored"}
"""What was done, as marks and log lines say it."""


@dataclass
class GuardrailServices:
    """What guardrails share, given by the composition root: the store (pins, vault), the vault,
    and the hosts links may point to. Plugins loaded from a YAML file without the gateway's
    wiring use a process-local default."""

    store: GuardrailStore
    vault: Vault
    allowed_hosts: tuple[str, ...] = ()
    known_tools: set[str] = field(default_factory=set)
    """Names of every tool seen in a list (to spot confusable names across servers)."""


_DEFAULT: GuardrailServices | None = None


def default_services() -> GuardrailServices:
    global _DEFAULT  # noqa: PLW0603 - one lazily built fallback per process, documented above
    if _DEFAULT is None:
        store = MemoryStore()
        _DEFAULT = GuardrailServices(store=store, vault=Vault(store))
    return _DEFAULT


@dataclass(frozen=True, slots=True)
class Noted:
    """A finding, where it was, and what was done about it (what a mark and a log line say)."""

    finding: Finding
    where: str
    action: Action

    def as_mark(self, guardrail: str) -> dict[str, str]:
        return {
            "guardrail": guardrail,
            "detector": self.finding.detector,
            "kind": self.finding.kind,
            "where": self.where,
            "action": PAST[self.action],
        }


class BuiltinGuard(Plugin):
    """Base of the built-in guardrails: reads its actions, and knows how to mark and log."""

    def __init__(self, config: PluginConfig, services: GuardrailServices | None = None) -> None:
        super().__init__(config)
        self.services = services or default_services()

    async def initialize(self) -> None:
        """Load the detectors before serving: their import and first run cost about half a
        second, which the first call would otherwise pay (and a client's deadline may not allow)."""
        self.warm_up()

    def warm_up(self) -> None:
        """Run the detectors once on a harmless sample; the guards with lazy detectors say how."""

    def action(self, key: str, default: Action, server: str | None = None) -> Action:
        """The action for ``key``: the server's own override (``servers: {name: {key: ...}}``), else
        this guardrail's, else ``default``."""
        value = self.config.get(key, default)
        if server is not None:
            value = (self.config.get("servers") or {}).get(server, {}).get(key, value)
        return Action(value) if not isinstance(value, Action) else value

    def note(self, context: PluginContext, noted: Iterable[Noted], what: str) -> list[Noted]:
        """Log each finding once (never its value) and remember it for the answer's mark."""
        items = list(noted)
        target = context.global_context
        for item in items:
            log.warning(
                "guardrail %s: %s %s %s in %s of %s (server %s, user %s): %s",
                self.name,
                PAST[item.action],
                item.finding.detector,
                item.finding.kind,
                item.where,
                what,
                target.server_id or "-",
                target.user if isinstance(target.user, str) else "-",
                item.finding.reason,
            )
        marks = context.state.setdefault("marks", [])
        marks.extend(item.as_mark(self.name) for item in items)
        return items

    def changed(
        self,
        payload: Any,
        update: dict[str, Any],
        context: PluginContext,
        found: Iterable[Mapping[str, str]],
        *,
        redacted: bool,
    ) -> PluginResult[Any]:
        """``payload`` with ``update``, the change named for the audit trail (and, in the result's
        ``metadata``, for whoever counts verdicts): ``redact`` when this hook redacted a finding,
        ``flag`` when it only marked (``found``: the marks it is about)."""
        verdict = Action.REDACT if redacted else Action.FLAG
        kinds = ", ".join(sorted({f"{m.get('detector')} ({m.get('kind')})" for m in found})) or "findings"
        context.state[AUDIT_AS] = (verdict.value, f"{PAST[verdict]} {kinds}")
        changed = payload.model_copy(update=update)
        return PluginResult(modified_payload=changed, metadata={AUDIT_AS: verdict.value})

    def violation(self, noted: list[Noted], code: str) -> PluginViolation:
        kinds = ", ".join(sorted({f"{n.finding.detector} ({n.finding.kind})" for n in noted}))
        first = noted[0]
        return PluginViolation(
            reason=f"{first.finding.reason} [{kinds}] in {first.where}",
            description=f"{len(noted)} finding(s) by the built-in guardrail {self.name}",
            code=code,
            details={"findings": [n.as_mark(self.name) for n in noted]},
        )


def marked(result: dict[str, Any], marks: list[dict[str, str]], prefix: str | None = None) -> dict[str, Any]:
    """``result`` with the marks in its ``_meta`` and, for a flag, ``prefix`` before its first text."""
    meta = dict(result.get("_meta") or {})
    previous = meta.get(MARK)
    earlier = previous.get("findings", []) if isinstance(previous, dict) else []
    meta[MARK] = {"findings": [*earlier, *marks]}
    answer = {**result, "_meta": meta}
    content = answer.get("content")
    if prefix and isinstance(content, list):
        for index, block in enumerate(content):
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
                changed = list(content)
                changed[index] = {**block, "text": f"{prefix} {block['text']}"}
                answer["content"] = changed
                break
    return answer


def flag_prefix(noted: Iterable[Noted]) -> str | None:
    """``[Portcullis flagged: injection]`` for flagged findings, None when nothing was flagged."""
    kinds = sorted({n.finding.detector for n in noted if n.action is Action.FLAG})
    return f"[Portcullis flagged: {', '.join(kinds)}]" if kinds else None
