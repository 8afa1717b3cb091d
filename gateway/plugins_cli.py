"""``portcullis plugins list | validate``: what a plugin configuration loads, without serving.

``list`` reads the settings' ``[plugins] config`` (or ``--config FILE``) and shows, per plugin,
its kind, hooks, mode, priority, error policy and conditions, its ``plugin-manifest.yaml`` when
one lies beside the plugin's module, and for an external plugin the health of its server (it is
started and asked for its tools and configuration, then stopped). ``validate FILE`` checks a
file the way ``serve`` would load it and names every problem with its fix.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import yaml

from gateway.settings import SettingsError, find_settings_file, load_settings
from middleware.plugins import PluginConfigError, PluginManager
from middleware.plugins.external import ExternalPlugin
from middleware.plugins.models import PluginConfig


def _unstarted_servers(entry: PluginConfig) -> Any:
    """External plugins' connections, built (their settings checked) but never started here."""
    from gateway.plugin_servers import SupervisedPluginServer
    from upstream.transports.reaper import Reaper

    return SupervisedPluginServer(entry, Reaper())


def _config_path(args: argparse.Namespace) -> Path | None:
    if getattr(args, "config", None):
        return Path(args.config)
    settings = load_settings(find_settings_file(args.settings))
    return Path(settings.plugins.config) if settings.plugins.config else None


def _report(path: Path | str, problems: list[str]) -> int:
    print(f"portcullis: invalid plugin configuration {path}:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return 2


def validate(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        manager = PluginManager.from_file(path, _unstarted_servers)
    except PluginConfigError as error:
        return _report(error.path, error.problems)
    print(f"{path}: OK ({len(manager.plugins)} plugins loaded, {len(manager.config.plugins)} configured)")
    return 0


def list_plugins(args: argparse.Namespace) -> int:
    try:
        path = _config_path(args)
    except SettingsError as error:
        return _report(error.source, error.problems)
    if path is None:
        print("no plugins: the settings have no [plugins] config")
        return 0
    try:
        manager = PluginManager.from_file(path, _unstarted_servers)
    except PluginConfigError as error:
        return _report(error.path, error.problems)
    settings = manager.config.plugin_settings
    bands = "parallel" if settings.parallel_execution_within_band else "in turn"
    print(f"{path}: plugin timeout {settings.plugin_timeout:g}s; a priority band runs {bands}")
    loaded = {plugin.name for plugin in manager.plugins}
    health = asyncio.run(_external_health(manager, settings.plugin_timeout))
    for entry in sorted(manager.config.plugins, key=lambda e: 100 if e.priority is None else e.priority):
        print(_describe(entry, entry.name in loaded))
        if entry.name in health:
            print(f"    server: {health[entry.name]}")
    return 0


async def _external_health(manager: PluginManager, patience: float) -> dict[str, str]:
    """Each external plugin's server, asked now: its shape and hooks, or why it cannot be used."""
    found: dict[str, str] = {}
    for plugin in manager.plugins:
        instance = plugin.instance
        if not isinstance(instance, ExternalPlugin):
            continue
        try:
            async with asyncio.timeout(patience):
                await instance.initialize()
            found[plugin.name] = (
                f"healthy ({instance.shape} server; hooks: {', '.join(instance.entry.hooks)})"
            )
        except Exception as exc:  # boundary: a report, whatever the server did
            found[plugin.name] = f"unhealthy: {exc or type(exc).__name__}"
        finally:
            with contextlib.suppress(Exception):
                await instance.shutdown()
    return found


def _describe(entry: PluginConfig, loaded: bool) -> str:
    policy = entry.error_policy.value if entry.error_policy else "by mode"
    priority = 100 if entry.priority is None else entry.priority
    lines = [
        f"- {entry.name} ({'loaded' if loaded else 'not loaded'}): {entry.kind}",
        f"    hooks: {', '.join(entry.hooks) or 'none'}; mode: {entry.mode.value}; priority: {priority}; "
        f"on_error: {policy}",
    ]
    for condition in entry.conditions:
        fields = condition.model_dump(exclude_none=True)
        lines.append(f"    when: {', '.join(f'{k}={sorted(v)}' for k, v in fields.items())}")
    manifest = _manifest(entry.kind)
    if manifest:
        shown = {
            key: manifest[key] for key in ("name", "version", "author", "description") if key in manifest
        }
        lines.append(f"    manifest: {shown}")
    return "\n".join(lines)


def _manifest(kind: str) -> dict[str, Any] | None:
    """The ``plugin-manifest.yaml`` beside the module of a native plugin's class, if any."""
    module = kind.rpartition(".")[0] if ":" not in kind else kind.partition(":")[0]
    try:
        spec = importlib.util.find_spec(module) if module else None
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    manifest = Path(spec.origin).parent / "plugin-manifest.yaml"
    if not manifest.is_file():
        return None
    try:
        data = yaml.safe_load(manifest.read_text())
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def add_commands(commands: Any) -> None:
    """``portcullis plugins ...`` under the CLI's sub-commands."""
    plugins = commands.add_parser("plugins", help="list or validate plugin configurations")
    actions = plugins.add_subparsers(dest="action", required=True)
    show = actions.add_parser("list", help="what the settings' plugin configuration loads")
    show.add_argument("--settings", help="settings file (default: $PORTCULLIS_SETTINGS or ./settings.toml)")
    show.add_argument("--config", help="a plugin configuration file instead of the settings' one")
    show.set_defaults(handler=list_plugins)
    check = actions.add_parser("validate", help="check a plugin configuration file")
    check.add_argument("file", help="the plugin configuration (YAML)")
    check.set_defaults(handler=validate)
