"""Load the plugins a configuration file names, start them, and stop them.

Loading fails closed: a plugin that cannot be imported, constructed or started stops the gateway
from starting, with every reason at once (a security plugin that silently did not load would
let everything through). ``disabled`` plugins are not loaded at all.
"""

from __future__ import annotations

import logging
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
from middleware.plugins.models import Config, PluginConfig, PluginMode

log = logging.getLogger("portcullis.plugins")


class PluginManager:
    """The loaded plugins of one configuration file and the executor that runs them."""

    def __init__(self, config: Config, plugins: list[LoadedPlugin], path: Path | None = None) -> None:
        self.config = config
        self.path = path
        self.plugins = plugins
        self.executor = PluginExecutor(plugins, config.plugin_settings)

    @classmethod
    def from_file(cls, path: Path) -> PluginManager:
        """Read, validate and construct every plugin of ``path``; raises :class:`PluginConfigError`."""
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
                plugins.append(LoadedPlugin(entry, _construct(entry), index))
            except Exception as exc:  # boundary: a plugin's constructor is its author's code
                problems.append(f"plugins ({entry.name}): constructing {entry.kind} failed: {exc}")
        if problems:
            raise PluginConfigError(path, problems)
        return cls(config, plugins, path)

    async def initialize(self) -> None:
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
        names = ", ".join(f"{p.name} ({p.config.mode.value})" for p in self.plugins) or "none"
        log.info("plugins loaded: %s", names)

    async def shutdown(self) -> None:
        await self.executor.shutdown()


def _problems(entry: PluginConfig) -> list[str]:
    if entry.kind == "external" and entry.mode is not PluginMode.DISABLED:
        return [
            f"plugins ({entry.name}): external plugins (MCP plugin servers) are not supported by this "
            "version yet; set mode: disabled or remove the entry"
        ]
    problems = class_problems(entry)
    if not problems and entry.mode is not PluginMode.DISABLED:
        cls = import_class(entry.kind)
        if is_cpex_plugin(cls):
            problems += cpex_problems(entry, cls)
    return problems


def _construct(entry: PluginConfig) -> Any:
    cls = import_class(entry.kind)
    return CpexPlugin(entry, cls) if is_cpex_plugin(cls) else cls(entry)
