"""Read a ContextForge plugin configuration file: ``{{ env.X }}`` references, YAML, validation.

Every problem is collected and reported together, each with where it is and what to write
instead: a field the spec does not know, a hook no gateway has, a class that does not import, a
hook method that is missing or not ``async``.

``{{ env.NAME }}``, ``{{ env['NAME'] }}``, ``{{ env.get('NAME', 'default') }}`` and ``{{ env.NAME |
default('x') }}`` are rendered as cpex renders them, from the environment, an unset variable as
the empty string, with one difference: values are not HTML-escaped (cpex's template engine
escapes them, which turns a secret holding ``&`` into ``&amp;``).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from middleware.plugins.base import find_hook, hook_problem
from middleware.plugins.models import Config, HookType, PluginConfig

KNOWN_HOOKS = frozenset(hook.value for hook in HookType)
_REFERENCE = re.compile(
    r"\{\{\s*env(?:\.(?P<dot>\w+)|\[\s*['\"](?P<item>[^'\"]+)['\"]\s*\]"
    r"|\.get\(\s*['\"](?P<get>[^'\"]+)['\"]\s*(?:,\s*['\"](?P<get_default>[^'\"]*)['\"]\s*)?\))"
    r"\s*(?:\|\s*default\(\s*['\"](?P<default>[^'\"]*)['\"]\s*\))?\s*\}\}"
)


class PluginConfigError(ValueError):
    """The plugin configuration cannot be used; ``problems`` says every reason, with its fix."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = str(path)
        self.problems = problems


def render_env(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every ``{{ env... }}`` reference replaced by its value."""
    values = os.environ if environ is None else environ

    def value(match: re.Match[str]) -> str:
        name = match.group("dot") or match.group("item") or match.group("get")
        fallback = match.group("get_default") or match.group("default") or ""
        found = values.get(name)
        return found if found else fallback

    return _REFERENCE.sub(value, text)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """The validated configuration in ``path``; raises :class:`PluginConfigError`."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise PluginConfigError(path, [f"cannot read it ({exc.strerror}); check [plugins] config"]) from None
    try:
        data = yaml.safe_load(render_env(text, environ)) or {}
    except yaml.YAMLError as exc:
        raise PluginConfigError(path, [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise PluginConfigError(path, ["the file must be a mapping with a `plugins:` list"])
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise PluginConfigError(path, [_problem(error, data) for error in exc.errors()]) from None
    problems = [problem for plugin in config.plugins for problem in hook_name_problems(plugin)]
    if problems:
        raise PluginConfigError(path, problems)
    return config


def _problem(error: Any, data: dict[str, Any]) -> str:
    location = list(error["loc"])
    where = _where(location, data)
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown field (remove it, or check its spelling against the plugin spec)"
    if isinstance(error.get("input"), bool) and error["type"] == "string_type":
        # YAML 1.1 reads on/off/yes/no as booleans: the usual surprise in a name.
        return f"{where}: {error['msg']} (YAML read a bare on/off/yes/no as {error['input']}: quote it)"
    return f"{where}: {error['msg']}"


def _where(location: list[Any], data: dict[str, Any]) -> str:
    """``plugins[2] (PIIFilter).mode`` rather than ``plugins.2.mode``."""
    parts: list[str] = []
    for index, key in enumerate(location):
        if isinstance(key, int):
            parts[-1] += f"[{key}]"
            if index == 1 and location[0] == "plugins":
                name = _name_at(data, key)
                if name and name not in ("True", "False"):
                    parts[-1] += f" ({name})"
        else:
            parts.append(str(key))
    return ".".join(parts)


def _name_at(data: dict[str, Any], index: int) -> str | None:
    plugins = data.get("plugins")
    if isinstance(plugins, list) and index < len(plugins) and isinstance(plugins[index], dict):
        name = plugins[index].get("name")
        return str(name) if name is not None else None
    return None


def hook_name_problems(plugin: PluginConfig) -> list[str]:
    return [
        f"plugins ({plugin.name}).hooks: {hook!r} is not a hook; use one of {', '.join(sorted(KNOWN_HOOKS))}"
        for hook in plugin.hooks
        if hook not in KNOWN_HOOKS
    ]


def add_plugin_dirs(config: Config, base: Path) -> None:
    """Put ``plugin_dirs`` (relative to the configuration file) on the import path."""
    for entry in config.plugin_dirs:
        directory = (base / entry).resolve()
        if str(directory) not in sys.path:
            sys.path.append(str(directory))


def import_class(kind: str) -> type:
    """The class named by ``kind`` (``package.module.Class`` or ``package.module:Class``)."""
    module_name, separator, attribute = kind.partition(":")
    if not separator:
        module_name, _, attribute = kind.rpartition(".")
    if not module_name or not attribute:
        raise ImportError(f"{kind!r} is not a class path like 'package.module.ClassName'")
    found = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(found, type):
        raise ImportError(f"{module_name} has no class {attribute!r}")
    return found


def class_problems(plugin: PluginConfig) -> list[str]:
    """Why the class of a native plugin cannot serve its hooks (import, missing, not async)."""
    if plugin.kind == "external" or plugin.mode.value == "disabled":
        return []
    where = f"plugins ({plugin.name}).kind"
    try:
        cls = import_class(plugin.kind)
    except ImportError as exc:
        return [f"{where}: cannot import {plugin.kind!r} ({exc}); check plugin_dirs and the spelling"]
    problems = []
    for hook in plugin.hooks:
        method = find_hook(cls, hook)
        if method is None:
            problems.append(
                f"{where}: {cls.__name__} has no {hook} method; name a method so, or decorate one "
                f"with @hook({hook!r})"
            )
            continue
        problem = hook_problem(method, unbound=True)
        if problem:
            problems.append(f"{where}: {cls.__name__}.{getattr(method, '__name__', hook)} {problem}")
    return problems
