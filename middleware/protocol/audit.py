"""The audit trail's contract: one record shape for every decision on a call, and the logger
it goes to. Pure: the layers that decide build the record here and log it themselves, so the
sink (a log, a JSON-lines file, telemetry providers) is chosen once by the composition root.

A record names who asked, for what, and what was decided by whom and why. It never carries
argument values or what a detector matched (the likeliest places for secrets and personal data):
``reason`` is the decider's own wording, cut to a bounded length.
"""

from __future__ import annotations

from typing import Final, TypedDict

from middleware.protocol.scope import TARGET_NAME, TARGET_SERVER, MCPScope
from middleware.protocol.trace_hooks import traced_step

AUDIT_LOGGER: Final = "portcullis.audit"
"""Every decision is logged here, with :data:`AUDIT_TEMPLATE` and one :class:`AuditRecord`."""

AUDIT_TEMPLATE: Final = (
    "audit verdict=%(verdict)s by=%(by)s principal=%(principal)s project=%(project)s "
    "%(method)s server=%(server)s target=%(target)s reason=%(reason)s session=%(session)s"
)
"""The text form of a record; the JSON log format writes each field as its own key. The method
stands without its key, so that a search of the text log for ``method=...`` still finds the
access line of a call (one per message) and not the decisions about it."""

AUDIT_VERDICT: Final = "audit_verdict"
"""``scope["state"]`` key: the refusal already recorded for this call, so none says "allow"."""

AUDITED_METHODS: Final = frozenset({"tools/call", "prompts/get", "resources/read"})
"""The methods whose allowed calls are recorded too (a refusal of any method always is)."""

REFUSALS: Final = frozenset({"deny", "block", "rate_limited", "unauthenticated", "forbidden"})
"""Verdicts that end the call; ``redact`` and ``flag`` change or mark it and let it go on."""

_CHARS: Final = 200
"""Targets and reasons are cut to this many characters."""


class AuditRecord(TypedDict):
    event: str
    verdict: str
    by: str
    principal: str
    project: str
    method: str
    server: str
    target: str
    reason: str
    session: str


def _cut(text: str) -> str:
    return text if len(text) <= _CHARS else text[:_CHARS] + "..."


def target_of(scope: MCPScope) -> str:
    """The tool, prompt or URI the call is about: as routed, else as the request named it."""
    name = scope["state"].get(TARGET_NAME)
    if not name:
        params = scope["params"]
        name = params.get("name") or params.get("uri")
    return _cut(name) if isinstance(name, str) and name else "-"


def audit_record(
    scope: MCPScope,
    verdict: str,
    *,
    by: str,
    reason: str = "-",
    server: str | None = None,
    target: str | None = None,
) -> AuditRecord:
    """The record of ``verdict`` on ``scope``'s call; a refusal is also marked in its state."""
    if verdict in REFUSALS:
        scope["state"][AUDIT_VERDICT] = verdict
    principal = scope["principal"]
    session = scope["session_id"]
    return {
        "event": "audit",
        "verdict": verdict,
        "by": by or "-",
        "principal": principal.name,
        "project": principal.project or "-",
        "method": scope["method"],
        "server": server or scope["state"].get(TARGET_SERVER) or scope["server"] or "-",
        "target": _cut(target) if target else target_of(scope),
        "reason": _cut(reason) if reason else "-",
        "session": session[:8] if session else "-",
    }


def traced_decision(layer: str, record: AuditRecord) -> None:
    """The decision as a step of the call's trace (when it is traced): a span named for the
    ``layer`` that decided, with the verdict and who decided."""
    attributes = {"portcullis.decision.verdict": record["verdict"], "portcullis.decision.by": record["by"]}
    traced_step(layer, attributes)


def http_audit_record(verdict: str, *, by: str, reason: str, method: str, target: str) -> AuditRecord:
    """The record of a refusal before any MCP message was read (authentication, say)."""
    return {
        "event": "audit",
        "verdict": verdict,
        "by": by,
        "principal": "-",
        "project": "-",
        "method": method,
        "server": "-",
        "target": _cut(target),
        "reason": _cut(reason),
        "session": "-",
    }
