"""Run the plugins of one hook over one payload: order, conditions, modes, errors, timeouts.

Plugins run in ascending ``priority`` (unset counts as 100, cpex's default; ties keep the file's
order). Plugins of one priority (a band) run together when ``parallel_execution_within_band`` is
on, and ``concurrent`` plugins always do; the others run one after the other, each seeing the
payload as the previous one left it. ``fire_and_forget`` plugins run last, in the background, on
a copy. What a mode may do is :class:`~middleware.plugins.models.Behaviour`.

A payload is measured against a plugin's ``max_content_size`` (bytes of its JSON) only when the
entry sets one; otherwise the gateway's own bounds apply (the request body limit, ``ResultLimits``).

A plugin that raises, times out (``plugin_timeout``) or returns something that is not a
``PluginResult`` has *failed*; ``on_error`` says what that costs: ``fail`` stops the call (fail
closed), ``ignore`` goes on, ``disable`` goes on and stops calling the plugin until restart.
Without ``on_error``, blocking modes fail and the others ignore; ``fail_on_plugin_error: true``
makes every failure fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from middleware.plugins.answers import PluginFailed, PluginTimedOut, as_result, where_raised
from middleware.plugins.base import HookMethod, find_hook, takes_extensions
from middleware.plugins.conditions import Target, matches
from middleware.plugins.contexts import Contexts
from middleware.plugins.models import (
    OnError,
    PluginConfig,
    PluginResult,
    PluginSettings,
    PluginViolation,
)
from middleware.plugins.watchdog import Watchdog
from middleware.protocol import STEP_TRACE, Scope
from middleware.protocol.audit import AUDIT_LOGGER, AUDIT_TEMPLATE, REFUSALS, audit_record
from middleware.protocol.measure import measured

_audit_log = logging.getLogger(AUDIT_LOGGER)
log = logging.getLogger("portcullis.plugins")

DEFAULT_PRIORITY = 100

VerdictHook = Callable[[str, str, bool, PluginResult[Any]], None]
"""Told each plugin's result: (plugin, hook, whether its mode blocks, result); for metrics."""

MEASURED_UP_TO = 1 << 30
"""A payload is measured at most this far (the walk stops there: it is over any sane limit)."""


@dataclass(eq=False)
class LoadedPlugin:
    """A plugin instance (native, or an adapter for a cpex or external one) and its entry."""

    config: PluginConfig
    instance: Any
    index: int
    methods: dict[str, tuple[HookMethod, bool]] = field(default_factory=dict)
    disabled: bool = False

    def __post_init__(self) -> None:
        self.refresh(self.config)

    def refresh(self, config: PluginConfig) -> None:
        """Take ``config`` (an external plugin learns its hooks from its server at start)."""
        self.config = config
        self.behaviour = config.behaviour
        self.methods = {}
        for hook in config.hooks:
            method = find_hook(self.instance, hook)
            if method is not None:
                self.methods[hook] = (method, takes_extensions(method))

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def rank(self) -> tuple[int, int]:
        priority = self.config.priority
        return (DEFAULT_PRIORITY if priority is None else priority, self.index)


@dataclass
class Outcome:
    """What the plugins of one hook decided."""

    payload: Any
    modified: bool = False
    violation: PluginViolation | None = None
    size: int = 0
    size_of: Any = None
    """The payload ``size`` was measured for (measured again once a plugin replaces it)."""
    timed_out: bool = False
    """A plugin ran past ``plugin_timeout`` (whatever its failure then cost the call)."""
    decisions: list[tuple[str, str, str]] = field(default_factory=list)
    """(verdict, plugin, reason) of each plugin that blocked, flagged or modified: the audit trail's."""


class PluginExecutor:
    def __init__(self, plugins: Sequence[LoadedPlugin], settings: PluginSettings) -> None:
        self.settings = settings
        self._background: set[asyncio.Task[None]] = set()
        self._watchdog = Watchdog()
        self.on_verdict: VerdictHook | None = None
        self.version = 0
        """Bumped by :meth:`index`: the hooks middleware rebuilds its table when it changes."""
        self.index(plugins)

    def index(self, plugins: Sequence[LoadedPlugin]) -> None:
        """Order ``plugins`` and index them by hook."""
        self.plugins = sorted(plugins, key=lambda plugin: plugin.rank)
        self.by_hook: dict[str, list[LoadedPlugin]] = {}
        self.reads_content_type = any(
            condition.content_types for plugin in self.plugins for condition in plugin.config.conditions
        )
        for plugin in self.plugins:
            if plugin.config.mode.value == "disabled":
                continue
            for hook in plugin.methods:
                self.by_hook.setdefault(hook, []).append(plugin)
        self.version += 1

    def has(self, hook: str) -> bool:
        return hook in self.by_hook

    async def run(self, hook: str, payload: BaseModel, target: Target, contexts: Contexts) -> Outcome:
        """Run ``hook``'s plugins that apply to ``target``; the outcome holds the final payload."""
        outcome = Outcome(payload)
        chosen = [
            p
            for p in self.by_hook.get(hook, ())
            if not p.disabled and (not p.config.conditions or matches(p.config.conditions, target))
        ]
        if not chosen:
            return outcome
        if len(chosen) == 1 and not chosen[0].behaviour.background:  # the common case, no bands
            only = chosen[0]
            self._apply(hook, only, await self._call(hook, only, outcome, contexts), outcome, contexts)
            return outcome
        background = [p for p in chosen if p.behaviour.background]
        for band in _bands([p for p in chosen if not p.behaviour.background]):
            parallel = len(band) > 1 and (
                self.settings.parallel_execution_within_band or all(p.behaviour.parallel for p in band)
            )
            results = await (
                self._together(hook, band, outcome, contexts)
                if parallel
                else self._in_turn(hook, band, outcome, contexts)
            )
            if results:
                break
        for plugin in background:
            self._in_background(hook, plugin, outcome.payload.model_copy(deep=True), contexts)
        return outcome

    async def _in_turn(
        self, hook: str, band: list[LoadedPlugin], outcome: Outcome, contexts: Contexts
    ) -> bool:
        for plugin in band:
            result = await self._call(hook, plugin, outcome, contexts)
            if self._apply(hook, plugin, result, outcome, contexts):
                return True
        return False

    async def _together(
        self, hook: str, band: list[LoadedPlugin], outcome: Outcome, contexts: Contexts
    ) -> bool:
        results = await asyncio.gather(*(self._call(hook, plugin, outcome, contexts) for plugin in band))
        return any(
            self._apply(hook, plugin, result, outcome, contexts)
            for plugin, result in zip(band, results, strict=True)
        )

    async def _call(
        self, hook: str, plugin: LoadedPlugin, outcome: Outcome, contexts: Contexts
    ) -> PluginResult[Any] | None:
        """One plugin's result, or None when it failed and its failure is ignored; a span of its
        own when the call is traced."""
        steps = STEP_TRACE.get()
        if steps is None:
            return await self._result(hook, plugin, outcome, contexts)
        step = steps.step(
            f"plugin {plugin.name}",
            {
                "portcullis.plugin.name": plugin.name,
                "portcullis.plugin.hook": hook,
                "portcullis.plugin.mode": plugin.config.mode.value,
            },
        )
        result: PluginResult[Any] | None = None
        try:
            result = await self._result(hook, plugin, outcome, contexts)
            return result
        finally:
            step.end({"portcullis.plugin.outcome": _traced_outcome(plugin, result)})

    async def _result(
        self, hook: str, plugin: LoadedPlugin, outcome: Outcome, contexts: Contexts
    ) -> PluginResult[Any] | None:
        behaviour = plugin.behaviour
        payload = outcome.payload if behaviour.modifies else outcome.payload.model_copy(deep=True)
        try:
            if plugin.config.max_content_size is not None:
                _check_size(plugin, outcome)
            return await self._invoke(hook, plugin, payload, contexts)
        except PluginFailed as failure:
            outcome.timed_out = outcome.timed_out or isinstance(failure, PluginTimedOut)
            return self._failed(hook, plugin, str(failure), contexts.call)

    async def _invoke(
        self, hook: str, plugin: LoadedPlugin, payload: BaseModel, contexts: Contexts
    ) -> PluginResult[Any]:
        method, extensions = plugin.methods[hook]
        context = contexts.of(plugin)
        watchdog = self._watchdog
        token = watchdog.begin(self.settings.plugin_timeout)
        try:
            result = await (method(payload, context, None) if extensions else method(payload, context))
        except asyncio.CancelledError:
            if not watchdog.end(token):
                raise  # cancelled from outside (the call itself ended): not the plugin's failure
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            raise PluginTimedOut(f"timed out after {self.settings.plugin_timeout:g}s") from None
        except Exception as exc:  # boundary: a plugin's bug must not take the call down
            watchdog.end(token)
            # Where, not what: an exception's text may quote the payload (a secret, say).
            raise PluginFailed(f"raised {type(exc).__name__}{where_raised(exc)}") from None
        watchdog.end(token)
        return as_result(result, payload)

    def _failed(self, hook: str, plugin: LoadedPlugin, reason: str, call: str) -> PluginResult[Any] | None:
        policy = plugin.config.error_policy
        if self.settings.fail_on_plugin_error or policy is None:
            policy = (
                OnError.FAIL
                if (self.settings.fail_on_plugin_error or plugin.behaviour.blocks)
                else OnError.IGNORE
            )
        log.warning("plugin %s %s in %s of %s (on_error: %s)", plugin.name, reason, hook, call, policy.value)
        if policy is OnError.DISABLE:
            plugin.disabled = True
            log.warning("plugin %s is disabled until the gateway restarts", plugin.name)
        if policy is not OnError.FAIL:
            return None
        violation = PluginViolation(
            reason="plugin failed",
            description=f"plugin {plugin.name} could not check this call ({reason})",
            code="PLUGIN_ERROR",
        )
        return PluginResult(continue_processing=False, violation=violation)

    def _apply(
        self,
        hook: str,
        plugin: LoadedPlugin,
        result: PluginResult[Any] | None,
        outcome: Outcome,
        contexts: Contexts,
    ) -> bool:
        """Fold one plugin's result into ``outcome``; True when the call stops here."""
        if result is None:
            return False
        if self.on_verdict is not None:
            self.on_verdict(plugin.name, hook, plugin.behaviour.blocks, result)
        behaviour = plugin.behaviour
        if not result.continue_processing:
            violation = result.violation or PluginViolation(
                reason="blocked", description="blocked by a plugin", code="BLOCKED"
            )
            violation.plugin_name = plugin.name
            if behaviour.blocks:
                log.warning(
                    "plugin %s blocked %s of %s: [%s] %s",
                    plugin.name,
                    hook,
                    contexts.call,
                    violation.code,
                    violation.reason,
                )
                outcome.violation = violation
                outcome.decisions.append(("block", plugin.name, f"[{violation.code}] {violation.reason}"))
                return True
            outcome.decisions.append(("flag", plugin.name, f"[{violation.code}] {violation.reason}"))
            log.info(
                "plugin %s would block %s of %s ([%s] %s); its mode does not block",
                plugin.name,
                hook,
                contexts.call,
                violation.code,
                violation.reason,
            )
        if behaviour.modifies and result.modified_payload is not None:
            outcome.payload = result.modified_payload
            outcome.modified = True
            outcome.decisions.append(("modify", plugin.name, f"changed the payload of {hook}"))
            log.info("plugin %s changed the payload of %s of %s", plugin.name, hook, contexts.call)
        return False

    def _in_background(self, hook: str, plugin: LoadedPlugin, payload: BaseModel, contexts: Contexts) -> None:
        async def run() -> None:
            try:
                await self._invoke(hook, plugin, payload, contexts)
            except PluginFailed as failure:
                self._failed(hook, plugin, str(failure), contexts.call)

        task = asyncio.create_task(run(), name=f"plugin:{plugin.name}:{hook}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def shutdown(self) -> None:
        for task in list(self._background):
            task.cancel()
        for plugin in self.plugins:
            close = getattr(plugin.instance, "shutdown", None)
            if close is None:
                continue
            try:
                await close()
            except Exception:  # boundary: one plugin's cleanup must not stop the others'
                log.exception("plugin %s failed to shut down", plugin.name)


def _traced_outcome(plugin: LoadedPlugin, result: PluginResult[Any] | None) -> str:
    """What a plugin's span says it did: ``block``, ``flag`` (would block; its mode does not),
    ``modify``, ``continue``, or ``no_result`` (it failed and the failure was ignored)."""
    if result is None:
        return "no_result"
    if not result.continue_processing:
        return "block" if plugin.behaviour.blocks else "flag"
    if plugin.behaviour.modifies and result.modified_payload is not None:
        return "modify"
    return "continue"


def _bands(plugins: list[LoadedPlugin]) -> list[list[LoadedPlugin]]:
    bands: list[list[LoadedPlugin]] = []
    for plugin in plugins:
        if bands and bands[-1][0].rank[0] == plugin.rank[0]:
            bands[-1].append(plugin)
        else:
            bands.append([plugin])
    return bands


def _check_size(plugin: LoadedPlugin, outcome: Outcome) -> None:
    """Refuse to hand a plugin more than its ``max_content_size`` (measured once per payload)."""
    limit = plugin.config.max_content_size or 0
    if outcome.size_of is not outcome.payload:
        found = measured(outcome.payload.__dict__, max_bytes=MEASURED_UP_TO, max_width=10**9, max_depth=256)
        outcome.size = found if isinstance(found, int) else MEASURED_UP_TO + 1
        outcome.size_of = outcome.payload
    if outcome.size > limit:
        raise PluginFailed(f"was not given the payload: more than its max_content_size ({limit} bytes)")


def audit_decision(scope: Scope, verdict: str, plugin: str, reason: str, target: Target) -> None:
    """One plugin decision on the audit trail, the target named as its server knows it (as
    policy records name it)."""
    name = target.names[0] if target.names else None
    record = audit_record(
        scope, verdict, by=f"plugin {plugin}", reason=reason, server=target.server, target=name
    )
    _audit_log.log(logging.WARNING if verdict in REFUSALS else logging.INFO, AUDIT_TEMPLATE, record)
