"""``[guardrails]``: the built-in guardrails, their preset and overrides, and where their state lives."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from gateway.settings.base import _Strict

GUARDRAIL_NAMES = ("arguments", "secrets", "pii", "injection", "poisoning", "pins")


class GuardrailOverride(_Strict):
    """One guardrail's changes to its preset: its own ``config:`` keys (``results``,
    ``arguments``, ``kinds``...), a plugin-framework ``mode`` and ``priority``, and
    ``conditions`` saying where it applies (servers, tools, users: the plugin framework's)."""

    enabled: bool = Field(True, description="false: this guardrail does not run")
    mode: str | None = Field(
        None, description="a plugin mode (enforce, permissive, audit...) instead of the preset's"
    )
    priority: int | None = Field(None, description="its place among plugins (lower runs first)")
    conditions: list[dict[str, Any]] = Field(
        [], description="where it applies: server_ids, tools, user_patterns..."
    )
    config: dict[str, Any] = Field({}, description="its own settings, over the preset's (results, kinds...)")


class GuardrailsSettings(_Strict):
    """The built-in guardrails: their preset and changes to it, and where their state lives."""

    preset: Literal["balanced", "strict", "audit", "off"] = Field(
        "balanced", description="balanced (default), strict, audit (detect and log only) or off"
    )
    store: str = Field(
        "portcullis-state.db",
        description="where pins and the PII vault live: a SQLite file (relative to the settings file), "
        "'memory', or a redis:// URL shared by every replica",
    )
    vault_key: SecretStr | None = Field(
        None,
        description="secret the PII vault is encrypted with (PORTCULLIS_GUARDRAILS__VAULT_KEY); "
        "without it a key file is kept beside a SQLite store, or a per-process key is used",
    )
    vault_ttl: float = Field(3600, gt=0, description="seconds a placeholder can be restored")
    allowed_hosts: list[str] = Field(
        [], description="hosts links, images and URL arguments may point to ('*.example.com' allowed)"
    )
    overrides: dict[str, GuardrailOverride] = Field(
        {},
        description="per guardrail (arguments, secrets, pii, injection, poisoning, pins): preset changes",
    )
    servers: dict[str, dict[str, Any]] = Field(
        {},
        description="per server: {guardrail: 'off'} or {guardrail: {config key: value}}, e.g. "
        "servers.files.arguments = { roots = ['/srv/data'] }",
    )

    @field_validator("store")
    @classmethod
    def _store_kind(cls, value: str) -> str:
        if "://" in value and not re.match(r"^(redis|rediss|unix)://", value):
            raise ValueError("must be a SQLite file path, 'memory', or a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("overrides")
    @classmethod
    def _known_guardrails(cls, value: dict[str, GuardrailOverride]) -> dict[str, GuardrailOverride]:
        _check_names(value)
        return value

    @field_validator("servers")
    @classmethod
    def _per_server(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for server, choices in value.items():
            _check_names(choices)
            for name, choice in choices.items():
                if choice != "off" and not isinstance(choice, dict):
                    raise ValueError(f"{server}.{name}: write 'off' or a table of that guardrail's settings")
        return value


def _check_names(value: dict[str, Any]) -> None:
    unknown = sorted(set(value) - set(GUARDRAIL_NAMES))
    if unknown:
        raise ValueError(f"unknown guardrail {unknown[0]!r}: use one of {', '.join(GUARDRAIL_NAMES)}")
