"""Load the plugins a configuration file names, start them, and stop them.

Loading fails closed: a plugin that cannot be imported, constructed or started stops the gateway
from starting, with every reason at once (a security plugin that silently did not load would
let everything through). ``disabled`` plugins are not loaded at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from middleware.plugins.config_file import (
    PluginConfigError,
    add_plugin_dirs,
    class_problems,
    import_class,
    load_config,
)
from middleware.plugins.cpex_adapter import CpexPlugin, cpex_problems, is_cpex_plugin
from middleware.plugins.executor import LoadedPlugin, PluginExecutor
from middleware.plugins.external import ExternalPlugin, PluginServer
from middleware.plugins.models import Config, PluginConfig, PluginMode

log = logging.getLogger("portcullis.plugins")


ServerFactory = Callable[[PluginConfig], PluginServer]
"""Builds the connection to an external plugin's server (the composition root has transports)."""


class PluginManager:
    """The loaded plugins of one configuration file and the executor that runs them."""

    def __init__(self, config: Config, plugins: list[LoadedPlugin], path: Path | None = None) -> None:
        self.config = config
        self.path = path
        self.plugins = plugins
        self.executor = PluginExecutor(plugins, config.plugin_settings)
        self._health: asyncio.Task[None] | None = None

    @classmethod
    def from_file(cls, path: Path, servers: ServerFactory | None = None) -> PluginManager:
        """Read, validate and construct every plugin of ``path``; raises :class:`PluginConfigError`.
        External plugins need ``servers``; they connect in :meth:`initialize`."""
        config = load_config(path)
        add_plugin_dirs(config, path.parent)
        problems = [problem for plugin in config.plugins for problem in _problems(plugin)]
        if problems:
            raise PluginConfigError(path, problems)
        plugins = []
        for index, entry in enumerate(config.plugins):
            if entry.mode is PluginMode.DISABLED:
                continue
            try:
                plugins.append(LoadedPlugin(entry, _construct(entry, servers), index))
            except Exception as exc:  # boundary: a plugin's constructor is its author's code
                problems.append(f"plugins ({entry.name}): constructing {entry.kind} failed: {exc}")
        if problems:
            raise PluginConfigError(path, problems)
        return cls(config, plugins, path)

    async def initialize(self) -> None:
        """Start every plugin (external ones connect and learn their configuration); fails closed."""
        for plugin in self.plugins:
            start = getattr(plugin.instance, "initialize", None)
            if start is None:
                continue
            try:
                await start()
            except Exception as exc:  # boundary: fail closed, and say which plugin and why
                raise PluginConfigError(
                    self.path or "plugins", [f"plugins ({plugin.name}): initialize() failed: {exc}"]
                ) from exc
            if isinstance(plugin.instance, ExternalPlugin):
                plugin.refresh(plugin.instance.entry)
        self.executor.index(self.plugins)
        names = ", ".join(f"{p.name} ({p.config.mode.value})" for p in self.plugins) or "none"
        log.info("plugins loaded: %s", names)
        if any(isinstance(plugin.instance, ExternalPlugin) for plugin in self.plugins):
            self._health = asyncio.create_task(self._check_health(), name="plugin-health")

    async def _check_health(self) -> None:
        """Every ``plugin_health_check_interval``, ask each plugin server for its tools; log a
        change of state once (a failing server is restarted by its supervisor when next used)."""
        failing: set[str] = set()
        while True:
            await asyncio.sleep(self.config.plugin_settings.plugin_health_check_interval)
            for plugin in self.plugins:
                instance = plugin.instance
                if not isinstance(instance, ExternalPlugin):
                    continue
                try:
                    await asyncio.wait_for(
                        instance.server.tools(), self.config.plugin_settings.plugin_timeout
                    )
                except Exception as exc:  # boundary: a health check reports, it never raises
                    if plugin.name not in failing:
                        failing.add(plugin.name)
                        log.warning("external plugin %s is unhealthy: %s", plugin.name, type(exc).__name__)
                    continue
                if plugin.name in failing:
                    failing.discard(plugin.name)
                    log.info("external plugin %s is healthy again", plugin.name)

    async def shutdown(self) -> None:
        if self._health is not None:
            self._health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health
        await self.executor.shutdown()


def _problems(entry: PluginConfig) -> list[str]:
    if entry.kind == "external" or entry.mode is PluginMode.DISABLED:
        return []
    problems = class_problems(entry)
    if not problems:
        cls = import_class(entry.kind)
        if is_cpex_plugin(cls):
            problems += cpex_problems(entry, cls)
    return problems


def _construct(entry: PluginConfig, servers: ServerFactory | None) -> Any:
    if entry.kind == "external":
        if servers is None:
            raise PluginConfigError("plugins", ["external plugins are started by the gateway"])
        return ExternalPlugin(entry, servers(entry))
    cls = import_class(entry.kind)
    return CpexPlugin(entry, cls) if is_cpex_plugin(cls) else cls(entry)
