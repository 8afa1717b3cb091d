"""The class a native plugin extends, and how its hook methods are found.

A hook is a coroutine method named after the hook (``tool_pre_invoke``) or decorated with
``@hook("tool_pre_invoke")`` (one method may serve several hooks); it takes ``(payload,
context)`` and, optionally, a third ``extensions`` argument (always None here).
``self.config`` reads the plugin's own ``config:`` section (``self.config.get("key")``, as the
spec's examples do), and ``self.config.config`` the same (as cpex plugins do).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from middleware.plugins.models import HookType, PluginCondition, PluginConfig, PluginMode

HOOK_ATTRIBUTE = "_plugin_hook_metadata"
F = TypeVar("F", bound=Callable[..., Any])
HookMethod = Callable[..., Awaitable[Any]]


class HookMetadata:
    """What ``@hook`` records on a method (the attribute name cpex uses, so both find it)."""

    def __init__(self, hook_types: Sequence[str]) -> None:
        self.hook_types = [str(getattr(hook, "value", hook)) for hook in hook_types]

    @property
    def hook_type(self) -> str:
        return self.hook_types[0]

    def matches(self, hook_type: str) -> bool:
        return hook_type in self.hook_types


def hook(hook_type: str | HookType | Sequence[str | HookType], *_: Any, **__: Any) -> Callable[[F], F]:
    """Mark a method as the implementation of one hook or several."""
    types = [hook_type] if isinstance(hook_type, str | HookType) else list(hook_type)

    def mark(method: F) -> F:
        setattr(method, HOOK_ATTRIBUTE, HookMetadata([str(t) for t in types]))
        return method

    return mark


class PluginSettingsView(dict[str, Any]):
    """The plugin's ``config:`` section, readable as a dict and as ``.config`` (cpex's way)."""

    def __init__(self, plugin_config: PluginConfig) -> None:
        super().__init__(plugin_config.config or {})
        self._plugin_config = plugin_config

    @property
    def config(self) -> dict[str, Any]:
        return dict(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._plugin_config, name)


class Plugin:
    """Base class of native plugins: construct with the plugin's :class:`PluginConfig`."""

    def __init__(self, config: PluginConfig) -> None:
        self._config = config
        self.config = PluginSettingsView(config)

    @property
    def plugin_config(self) -> PluginConfig:
        """The plugin's whole entry (``config`` is only its own ``config:`` section)."""
        return self._config

    @property
    def name(self) -> str:
        return self._config.name

    @property
    def priority(self) -> int | None:
        return self._config.priority

    @property
    def mode(self) -> PluginMode:
        return self._config.mode

    @property
    def hooks(self) -> list[str]:
        return list(self._config.hooks)

    @property
    def tags(self) -> list[str]:
        return list(self._config.tags)

    @property
    def conditions(self) -> list[PluginCondition]:
        return list(self._config.conditions)

    async def initialize(self) -> None:
        """Acquire resources; called once before the first hook."""

    async def shutdown(self) -> None:
        """Release them; called once when the gateway stops."""


def find_hook(plugin: object, hook_type: str) -> HookMethod | None:
    """The method implementing ``hook_type``: by name first, else by ``@hook`` metadata."""
    method = getattr(plugin, hook_type, None)
    if callable(method):
        return method  # type: ignore[no-any-return]
    for _, member in _public_methods(plugin):
        metadata = getattr(member, HOOK_ATTRIBUTE, None)
        if metadata is not None and metadata.matches(hook_type):
            return member  # type: ignore[no-any-return]
    return None


def _public_methods(plugin: object) -> Iterator[tuple[str, Any]]:
    for name, member in inspect.getmembers(plugin, inspect.isroutine):
        if not name.startswith("_"):
            yield name, member


def _positional(method: HookMethod, unbound: bool) -> int:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    count = sum(1 for p in inspect.signature(method).parameters.values() if p.kind in kinds)
    return count - 1 if unbound else count


def hook_problem(method: HookMethod, *, unbound: bool = False) -> str | None:
    """Why ``method`` cannot serve as a hook, or None (``unbound``: still has ``self``)."""
    if not inspect.iscoroutinefunction(method):
        return "must be `async def`"
    if _positional(method, unbound) not in (2, 3):
        return "must take (payload, context) or (payload, context, extensions)"
    return None


def takes_extensions(method: HookMethod) -> bool:
    return _positional(method, unbound=False) == 3
