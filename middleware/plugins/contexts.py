"""The plugin contexts of one call: each plugin's own ``PluginContext`` (its ``state`` lives from
the call's pre hook to its post hook), and the ``GlobalContext`` they share."""

from __future__ import annotations

import itertools
import os
from typing import TYPE_CHECKING

from middleware.plugins.conditions import Target
from middleware.plugins.models import GlobalContext, PluginContext, built

if TYPE_CHECKING:
    from middleware.plugins.executor import LoadedPlugin

_REQUEST_IDS = itertools.count(1)
_BOOT = os.urandom(4).hex()
"""Request ids for plugin contexts: unique in this process, and across restarts."""


class Contexts:
    """The plugin contexts of one call: each plugin's own, kept from pre hook to post hook, and
    the global context they share (built when the first plugin runs: most calls need none)."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._global: GlobalContext | None = None
        self._by_plugin: dict[str, PluginContext] = {}

    @property
    def global_context(self) -> GlobalContext:
        if self._global is None:
            target = self._target
            # Built by us from valid parts: constructed without validating (a hot path).
            self._global = built(
                GlobalContext,
                request_id=f"{_BOOT}-{next(_REQUEST_IDS)}",
                user=target.user,
                tenant_id=target.tenant,
                server_id=target.server,
                content_type=target.content_type,
                state={},
                metadata={} if target.definition is None else {"definition": target.definition},
            )
        return self._global

    @property
    def call(self) -> str:
        """The call, as logs name it: what it is about (never its arguments)."""
        target = self._target
        return f"{target.kind} {target.names[-1]}" if target.kind and target.names else "a list"

    def of(self, plugin: LoadedPlugin) -> PluginContext:
        context = self._by_plugin.get(plugin.name)
        if context is None:
            context = built(PluginContext, state={}, global_context=self.global_context, metadata={})
            self._by_plugin[plugin.name] = context
        return context
