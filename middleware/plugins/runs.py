"""What the hooks middleware adds around one run of a hook: its count as a ``guardrail``
operation (with its timeouts), and the names its changes take on the audit trail.

A plugin that changed the payload is recorded as ``modify``, unless it says better: a plugin
may put ``(verdict, reason)`` under :data:`AUDIT_AS` in its context's ``state`` during the hook,
``redact`` (it changed the content) or ``flag`` (it only marked it); the built-in guardrails do.
"""

from __future__ import annotations

import time
from typing import Any, Final

from middleware.plugins.conditions import Target
from middleware.plugins.contexts import Contexts
from middleware.plugins.executor import Outcome, PluginExecutor
from middleware.protocol.operations import OperationStats

GUARDRAIL: Final = "guardrail"
"""The operation type of a hook run."""

AUDIT_AS: Final = "io.portcullis/audit_as"
"""A plugin context ``state`` key: ``(verdict, reason)`` naming the plugin's change of this hook."""

NAMED_CHANGES: Final = frozenset({"redact", "flag"})


async def timed_run(
    executor: PluginExecutor,
    stats: OperationStats,
    run: tuple[str, Any, Target, Contexts],
) -> Outcome:
    """``executor.run(*run)``, counted as one ``guardrail`` operation (a clock read either side)."""
    started = time.monotonic()
    try:
        outcome = await executor.run(*run)
    except BaseException:
        stats.record(GUARDRAIL, time.monotonic() - started)
        raise
    stats.record(GUARDRAIL, time.monotonic() - started, timed_out=outcome.timed_out)
    return outcome


def named(executor: PluginExecutor, contexts: Contexts, decision: tuple[str, str, str]) -> tuple[str, str]:
    """A decision's ``(verdict, reason)`` for the audit trail: a change as its plugin named it."""
    verdict, plugin, reason = decision
    if verdict != "modify":
        return verdict, reason
    for loaded in executor.plugins:
        if loaded.name == plugin:
            said = contexts.of(loaded).state.pop(AUDIT_AS, None)
            if isinstance(said, tuple) and len(said) == 2 and said[0] in NAMED_CHANGES:
                return str(said[0]), str(said[1])
    return verdict, reason
