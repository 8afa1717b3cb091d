"""The built-in guardrails of ``[guardrails]``: the preset's plugins, with their overrides, on the
store settings name, added to the plugin framework's manager (before any configured plugin of
the same priority, so a redaction happens before a user's plugin reads a result)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from gateway.settings import Settings
from gateway.settings.guardrails import GuardrailsSettings
from gateway.state.guardrail_stores import RedisStore, SqliteStore
from middleware.guardrails.base import GuardrailServices
from middleware.guardrails.poisoning_guard import InstructionsScreen
from middleware.guardrails.presets import ACTION_KEYS, GUARDRAILS, HOOKS, PRESETS
from middleware.guardrails.store import GuardrailStore, MemoryStore
from middleware.guardrails.vault import Vault
from middleware.plugins import PluginConfig, PluginManager
from middleware.plugins.config_file import import_class
from middleware.plugins.executor import LoadedPlugin
from middleware.plugins.models import Config

log = logging.getLogger("portcullis")


def open_store(store: str, redis_prefix: str = "portcullis:") -> GuardrailStore:
    """The store ``store`` names: memory, a SQLite file, or a Redis URL."""
    if store == "memory":
        return MemoryStore()
    if "://" in store:
        return RedisStore(store, prefix=redis_prefix + "guardrails:")
    return SqliteStore(store)


def guardrail_store(settings: Settings) -> GuardrailStore:
    """Pins and the vault: in the shared Redis when ``[redis] url`` is set (replicas agree),
    else where ``[guardrails] store`` says (also what ``portcullis pins`` and the admin API open)."""
    return open_store(settings.redis.connect_url or settings.guardrails.store, settings.redis.prefix)


def _vault_key(settings: GuardrailsSettings, *, shared: bool = False) -> bytes:
    """The vault's key: set in settings; else kept in a file beside a SQLite store (created 0600
    on first start); else (memory, Redis) one per process, so placeholders do not outlive it.
    (Never in Redis beside what it encrypts.)"""
    if settings.vault_key is not None:
        return settings.vault_key.get_secret_value().encode()
    if shared or settings.store == "memory" or "://" in settings.store:
        if shared or "://" in settings.store:
            log.warning(
                "guardrails: no vault_key set; placeholders can only be restored by the replica that made "
                "them (set PORTCULLIS_GUARDRAILS__VAULT_KEY on every replica)"
            )
        return os.urandom(32)
    path = Path(settings.store).with_suffix(".key")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def guardrail_entries(settings: GuardrailsSettings) -> list[PluginConfig]:
    """One plugin entry per guardrail the preset runs, with the overrides applied."""
    chosen = PRESETS[settings.preset]
    entries = []
    for name, (kind, priority) in GUARDRAILS.items():
        override = settings.overrides.get(name)
        if name not in chosen or (override is not None and not override.enabled):
            continue
        config: dict[str, Any] = {**chosen[name], **(override.config if override else {})}
        per_server = _per_server(settings, name)
        if per_server:
            config["servers"] = {**per_server, **config.get("servers", {})}
        mode = "audit" if settings.preset == "audit" else "enforce"
        entries.append(
            PluginConfig(
                name=f"guardrail-{name}",
                kind=kind,
                description=f"built-in guardrail: {name}",
                hooks=HOOKS[name],
                mode=(override.mode if override and override.mode else mode),
                priority=override.priority if override and override.priority is not None else priority,
                conditions=override.conditions if override else [],
                config=config,
            )
        )
    return entries


def _per_server(settings: GuardrailsSettings, name: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for server, choices in settings.servers.items():
        choice = choices.get(name)
        if choice == "off":
            found[server] = dict.fromkeys(ACTION_KEYS[name], "off")
        elif isinstance(choice, dict):
            found[server] = dict(choice)
    return found


def instructions_screen(settings: GuardrailsSettings) -> InstructionsScreen | None:
    """The judge of upstream ``instructions``, when the poisoning guardrail runs and blocks."""
    entry = next((e for e in guardrail_entries(settings) if e.name == "guardrail-poisoning"), None)
    if entry is None or entry.mode.value == "audit" or (entry.config or {}).get("definitions") != "block":
        return None
    return InstructionsScreen()


def with_builtin_guardrails(settings: Settings, plugins: PluginManager | None) -> PluginManager | None:
    """``plugins`` (or a manager of their own) with the preset's guardrails in front."""
    entries = guardrail_entries(settings.guardrails)
    if not entries:
        return plugins
    store = guardrail_store(settings)
    key = _vault_key(settings.guardrails, shared=settings.redis.url is not None)
    services = GuardrailServices(
        store=store,
        vault=Vault(store, key, settings.guardrails.vault_ttl),
        allowed_hosts=tuple(settings.guardrails.allowed_hosts),
    )
    loaded = [
        LoadedPlugin(entry, import_class(entry.kind)(entry, services), -100 + index)
        for index, entry in enumerate(entries)
    ]
    manager = plugins or PluginManager(Config(), [])
    manager.plugins = [*loaded, *manager.plugins]
    manager.executor.index(manager.plugins)
    return manager
