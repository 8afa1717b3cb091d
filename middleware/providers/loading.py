"""Construct a provider the way Enkrypt's gateway does, and check its configuration at start.

A provider class is tried as ``cls(**config)``, then ``cls(config)``, then ``cls()`` (the seed's
examples use all three). ``validate_config(config)`` must hold, and every key of
``get_required_config_keys()`` must be in the configuration; otherwise the provider is refused
with a message that names the missing keys.
"""

from __future__ import annotations

import importlib
from typing import Any

from middleware.providers.models import AuthProvider, GuardrailProvider, TelemetryProvider

KINDS: dict[str, type] = {
    "auth": AuthProvider,
    "guardrails": GuardrailProvider,
    "telemetry": TelemetryProvider,
}


class ProviderError(ValueError):
    """A provider that cannot be used, and why (with the fix)."""


def import_provider(path: str) -> type:
    module_name, separator, attribute = path.partition(":")
    if not separator:
        module_name, _, attribute = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ProviderError(f"cannot import {path!r} ({exc}); write it as 'package.module:Class'") from None
    if not isinstance(found, type):
        raise ProviderError(f"{path!r} is not a class")
    return found


def construct(path: str, config: dict[str, Any], kind: str) -> Any:
    """An instance of the provider class at ``path``, checked against ``config``."""
    cls = import_provider(path)
    instance = _instantiate(cls, config, path)
    expected = KINDS[kind]
    if not isinstance(instance, expected) and not _looks_like(instance, expected):
        raise ProviderError(f"{path} is not a {expected.__name__} (it lacks its methods)")
    required = list(_call_or(instance, "get_required_config_keys", []))
    missing = [key for key in required if key not in config]
    if missing:
        raise ProviderError(f"{path} needs config keys {', '.join(missing)}; add them to its `config`")
    if not _call_or(instance, "validate_config", True, config):
        raise ProviderError(
            f"{path} refused its config (validate_config returned false); check its keys and values"
        )
    return instance


def _instantiate(cls: type, config: dict[str, Any], path: str) -> Any:
    attempts: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), dict(config)),
        ((dict(config),), {}),
        ((), {}),
    ]
    last: Exception | None = None
    for args, kwargs in attempts:
        try:
            return cls(*args, **kwargs)
        except TypeError as exc:
            last = exc
    raise ProviderError(f"cannot construct {path} with its config ({last})")


def _call_or(instance: Any, method: str, default: Any, *args: Any) -> Any:
    function = getattr(instance, method, None)
    return function(*args) if callable(function) else default


def _looks_like(instance: Any, expected: type) -> bool:
    """Duck typing, as Enkrypt's loader allows: every abstract method is there."""
    names: frozenset[str] = getattr(expected, "__abstractmethods__", frozenset())
    return all(hasattr(instance, name) for name in names)
