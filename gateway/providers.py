"""The Enkrypt-style providers of ``[plugins.auth|guardrails|telemetry]``, built at start.

What fails to load says so loudly and falls back, never to open access: an auth provider falls
back to the built-in API keys alone (a request they do not know is refused), a telemetry provider
to the gateway's own logging; a guardrail provider has no built-in to fall back to, so the gateway
refuses to start without it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from gateway.logs import MaskSecrets
from gateway.settings import Settings, SettingsError
from middleware.plugins import PluginManager
from middleware.plugins.executor import LoadedPlugin
from middleware.plugins.models import Config
from middleware.protocol import Principal
from middleware.protocol.http import ASGIScope
from middleware.providers import ProviderError, construct
from middleware.providers.auth import ProviderAuth
from middleware.providers.guardrails import GuardrailPlugin
from middleware.providers.telemetry import attach

log = logging.getLogger("portcullis")


def provider_problems(settings: Settings) -> list[str]:
    """Every provider that would not load, for ``portcullis check`` (serve logs or refuses them)."""
    problems = []
    for kind in ("auth", "guardrails", "telemetry"):
        for index, entry in enumerate(settings.plugins.providers(kind)):
            try:
                construct(entry.provider, entry.config, kind)
            except ProviderError as exc:
                problems.append(f"plugins.{kind}[{index}]: {exc}")
    return problems


def auth_fallback(settings: Settings) -> Callable[[ASGIScope], Awaitable[Principal | None]] | None:
    """Who authenticates a request the built-in keys do not know, if any provider loads."""
    providers = []
    for index, entry in enumerate(settings.plugins.providers("auth")):
        try:
            providers.append(construct(entry.provider, entry.config, "auth"))
        except ProviderError as exc:
            log.error("plugins.auth[%d] did not load, using the built-in API keys only: %s", index, exc)
    return ProviderAuth(providers).principal_for if providers else None


def start_telemetry(settings: Settings) -> logging.Handler | None:
    """Attach the telemetry providers that load; the handler that feeds them, if any."""
    providers = []
    for index, entry in enumerate(settings.plugins.providers("telemetry")):
        try:
            provider = construct(entry.provider, entry.config, "telemetry")
            result = provider.initialize(entry.config)
            if not getattr(result, "success", False):
                raise ProviderError(f"initialize() failed: {getattr(result, 'error', None) or 'no reason'}")
            providers.append(provider)
        except ProviderError as exc:
            log.error("plugins.telemetry[%d] did not load, using the gateway's logging only: %s", index, exc)
    if not providers:
        return None
    handler = attach(providers)
    for logger in handler.loggers:  # what a provider's logger hears goes to the provider, not back to ours
        if isinstance(logger, logging.Logger):
            logger.propagate = False
    # Providers hear records before the log's own handler masks them: mask them here too.
    handler.addFilter(MaskSecrets())
    return handler


def with_guardrails(settings: Settings, plugins: PluginManager | None) -> PluginManager | None:
    """``plugins`` (or a manager of their own) with each guardrail provider as a plugin."""
    entries = settings.plugins.providers("guardrails")
    if not entries:
        return plugins
    loaded = []
    for index, entry in enumerate(entries):
        try:
            provider = construct(entry.provider, entry.config, "guardrails")
            plugin = GuardrailPlugin(provider, entry.config, index)
        except ProviderError as exc:
            raise SettingsError("settings", [f"plugins.guardrails[{index}]: {exc}"]) from None
        loaded.append(LoadedPlugin(plugin.plugin_config, plugin, -1 - index))
    manager = plugins or PluginManager(Config(), [])
    manager.plugins = [*loaded, *manager.plugins]
    manager.executor.index(manager.plugins)
    return manager
