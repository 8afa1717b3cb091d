"""Personal data and secrets, both ways: redacted (reversibly) on the way to the model, flagged,
blocked or restored on the way to the server.

``config:`` of :class:`PiiGuard` and :class:`SecretsGuard`:

- ``results``: what to do with findings in what a server sends (tool results, resource contents,
  prompt messages, sampling and elicitation requests): ``redact`` (default), ``flag``, ``block``, ``off``.
- ``arguments``: findings in what a client sends (tool and prompt arguments, answers to sampling
  and elicitation): ``flag`` (default), ``redact``, ``block``, ``off``.
- ``restore``: where a placeholder sent back by the same principal is turned into its value again:
  ``same_server`` (default: only to the server whose answer held it), ``any``, ``never``.
- ``kinds``: only these kinds (default: all the detector knows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from middleware.guardrails.argument_limits import validator_for
from middleware.guardrails.base import Action, BuiltinGuard, Noted, flag_prefix, marked
from middleware.guardrails.detectors.findings import Finding
from middleware.guardrails.vault import PLACEHOLDER, Kept, placeholders_in
from middleware.guardrails.walk import NOT_TEXT, rewrite, strings
from middleware.plugins import PluginContext, PluginResult
from middleware.plugins.runs import AUDIT_AS

Detector = Callable[[str], list[Finding]]


def _principal(context: PluginContext) -> str:
    ctx = context.global_context
    user = ctx.user if isinstance(ctx.user, str) else str((ctx.user or {}).get("name", ""))
    return f"{ctx.tenant_id or ''}/{user}"


def _still_valid(result: dict[str, Any], changed: dict[str, Any], context: PluginContext) -> dict[str, Any]:
    """``changed`` if its redacted ``structuredContent`` still matches the tool's ``outputSchema``
    (placeholders are strings, an e-mail's is an address); else the redacted text alone, as a
    tool error that says why: the client would reject the structured content, and the values
    may not be put back."""
    structured = changed.get("structuredContent")
    if structured is result.get("structuredContent") or changed.get("isError"):
        return changed
    definition = context.global_context.metadata.get("definition")
    schema = definition.get("outputSchema") if isinstance(definition, dict) else None
    validator = validator_for(schema) if isinstance(schema, dict) else None
    error = next(iter(validator.iter_errors(structured)), None) if validator is not None else None
    if error is None:
        return changed
    where = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    note = (
        f"[Portcullis: personal data or secrets were redacted from this result; redacted, its "
        f"structured content no longer matches the tool's outputSchema at {where}, so it is withheld]"
    )
    content = [*(changed.get("content") or []), {"type": "text", "text": note}]
    return {key: value for key, value in changed.items() if key != "structuredContent"} | {
        "content": content,
        "isError": True,
    }


class SensitiveDataGuard(BuiltinGuard):
    """Shared by the PII and secrets guardrails: only the detector and the codes differ."""

    code = "SENSITIVE_DATA"

    def warm_up(self) -> None:
        self.detect("warm-up sample: nothing to find here")

    def detect(self, text: str) -> list[Finding]:
        raise NotImplementedError

    def _found(self, text: str, wanted: Callable[[Finding], bool]) -> list[Finding]:
        """The detector's findings of the wanted kinds, but not our own placeholders (an e-mail
        placeholder is an address too)."""
        return [f for f in self.detect(text) if wanted(f) and not PLACEHOLDER.fullmatch(text, f.start, f.end)]

    def _wanted(self) -> Callable[[Finding], bool]:
        kinds = self.config.get("kinds")
        if not kinds:
            return lambda finding: True
        allowed = set(kinds)
        return lambda finding: finding.kind in allowed

    # --- server -> client ---------------------------------------------------------------------

    async def outbound(
        self, value: Any, context: PluginContext, what: str, action: Action | None = None
    ) -> tuple[Any, list[Noted]]:
        """``value`` with findings redacted (when that is the action), and what was found."""
        action = action or self.action("results", Action.REDACT)
        if action is Action.OFF:
            return value, []
        wanted = self._wanted()
        principal = _principal(context)
        server = context.global_context.server_id
        noted: list[Noted] = []
        kept: dict[str, Kept] = {}

        def change(text: str, path: str) -> str:
            findings = self._found(text, wanted)
            if not findings:
                return text
            noted.extend(Noted(f, path, action) for f in findings)
            return (
                self._redacted(text, findings, principal, server, kept) if action is Action.REDACT else text
            )

        changed = rewrite(value, change, skip=NOT_TEXT)
        if kept:
            await self.services.vault.keep(principal, kept.values())
        return changed, self.note(context, noted, what)

    def _redacted(
        self, text: str, findings: list[Finding], principal: str, server: str | None, kept: dict[str, Kept]
    ) -> str:
        pieces: list[str] = []
        last = 0
        for finding in sorted(findings, key=lambda f: f.start):
            if finding.start < last:
                continue  # overlapping spans: the first one wins
            value = text[finding.start : finding.end]
            placeholder = self.services.vault.placeholder(principal, finding.kind, value)
            kept[placeholder] = Kept(placeholder, value, server)
            pieces += [text[last : finding.start], placeholder]
            last = finding.end
        pieces.append(text[last:])
        return "".join(pieces)

    # --- client -> server ---------------------------------------------------------------------

    async def inbound(self, value: Any, context: PluginContext, what: str) -> tuple[Any, list[Noted]]:
        """Findings in what a client sends (flag, redact or block), then placeholders restored."""
        action = self.action("arguments", Action.FLAG)
        noted: list[Noted] = []
        if action is not Action.OFF:
            value, noted = await self._inbound_findings(value, context, what, action)
        return await self._restored(value, context), noted

    async def _inbound_findings(
        self, value: Any, context: PluginContext, what: str, action: Action
    ) -> tuple[Any, list[Noted]]:
        if action is Action.REDACT:
            return await self.outbound(value, context, what, Action.REDACT)
        wanted = self._wanted()
        noted = [Noted(f, path, action) for path, text in strings(value) for f in self._found(text, wanted)]
        return value, self.note(context, noted, what)

    async def _restored(self, value: Any, context: PluginContext) -> Any:
        policy = self.config.get("restore", "same_server")
        if policy == "never":
            return value
        wanted = [p for _, text in strings(value) for p in placeholders_in(text)]
        if not wanted:
            return value
        known = await self.services.vault.values(_principal(context), wanted)
        server = context.global_context.server_id
        usable = {
            p: kept.value for p, kept in known.items() if policy == "any" or kept.server in (None, server)
        }
        if not usable:
            return value

        def change(text: str, path: str) -> str:
            if not placeholders_in(text):
                return text
            for placeholder, original in usable.items():
                text = text.replace(placeholder, original)
            return text

        return rewrite(value, change)

    # --- the hooks ----------------------------------------------------------------------------

    def _answer(
        self, payload: Any, field: str, changed: Any, noted: list[Noted], context: PluginContext
    ) -> PluginResult[Any]:
        if any(n.action is Action.BLOCK for n in noted):
            return PluginResult(continue_processing=False, violation=self.violation(noted, self.code))
        if changed is getattr(payload, field):
            return PluginResult()
        redacted = [n.as_mark(self.name) for n in noted if n.action is Action.REDACT]
        if not redacted:  # placeholders restored: a change, but no finding's
            context.state.pop(AUDIT_AS, None)
            return PluginResult(modified_payload=payload.model_copy(update={field: changed}))
        return self.changed(payload, {field: changed}, context, redacted, redacted=True)

    async def tool_pre_invoke(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        if not payload.args:  # nothing to look at; and ``args or {}`` would look like a change
            return PluginResult()
        changed, noted = await self.inbound(payload.args, context, f"tool {payload.name} arguments")
        return self._answer(payload, "args", changed, noted, context)

    async def prompt_pre_fetch(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        if not payload.args:
            return PluginResult()
        changed, noted = await self.inbound(payload.args, context, f"prompt {payload.prompt_id} arguments")
        return self._answer(payload, "args", changed, noted, context)

    async def tool_post_invoke(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        result = payload.result
        changed, noted = await self.outbound(result, context, f"tool {payload.name} result")
        if any(n.action is Action.BLOCK for n in noted):
            return PluginResult(continue_processing=False, violation=self.violation(noted, self.code))
        if isinstance(result, dict) and isinstance(changed, dict):
            changed = _still_valid(result, changed, context)
        marks = context.state.get("marks")
        if not marks or not isinstance(changed, dict):
            return self._answer(payload, "result", changed, noted, context)
        answer = marked(changed, marks, flag_prefix(noted))
        context.state["marks"] = []
        found = [n.as_mark(self.name) for n in noted] or marks  # this hook's findings, else the call's
        redacted = any(n.action is Action.REDACT for n in noted)
        return self.changed(payload, {"result": answer}, context, found, redacted=redacted)

    async def prompt_post_fetch(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        changed, noted = await self.outbound(payload.result, context, f"prompt {payload.prompt_id}")
        return self._answer(payload, "result", changed, noted, context)

    async def resource_post_fetch(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        changed, noted = await self.outbound(payload.content, context, "resource contents")
        return self._answer(payload, "content", changed, noted, context)

    async def sampling_pre_create(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        changed, noted = await self.outbound(payload.params, context, f"{payload.method} request")
        return self._answer(payload, "params", changed, noted, context)

    elicitation_pre_create = sampling_pre_create

    async def sampling_post_create(self, payload: Any, context: PluginContext) -> PluginResult[Any]:
        changed, noted = await self.inbound(payload.result, context, f"answer to {payload.method}")
        return self._answer(payload, "result", changed, noted, context)

    elicitation_post_create = sampling_post_create


class PiiGuard(SensitiveDataGuard):
    """Personal data: e-mail, phones, cards, IBANs, national ids, passports, IPs, birth dates, addresses."""

    code = "PII_DETECTED"

    def detect(self, text: str) -> list[Finding]:
        from middleware.guardrails.detectors.pii import find_pii

        return find_pii(text)


class SecretsGuard(SensitiveDataGuard):
    """Credentials: provider tokens, private keys, JWTs, connection strings, passwords."""

    code = "SECRET_DETECTED"

    def detect(self, text: str) -> list[Finding]:
        from middleware.guardrails.detectors.secrets import find_secrets

        return find_secrets(text)
