"""The middleware stack and logging."""

from __future__ import annotations

import importlib
import re
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
)

from gateway.settings.base import _Strict


class MiddlewareSettings(_Strict):
    """One middleware of the MCP-tier stack, outermost first; a list replaces the default stack."""

    use: str = Field(description="import path 'package.module:Class'")
    options: dict[str, Any] = Field({}, description="keyword arguments the class is constructed with")

    @field_validator("use")
    @classmethod
    def _import_path(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", value):
            raise ValueError("write it as 'package.module:ClassName'")
        # Checked here, not only when the stack is built, so `check` reports it with the rest.
        module_name, _, attribute = value.partition(":")
        try:
            getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ValueError(
                f"cannot import it ({exc}); check the module is on the Python path and "
                "the name is spelled right"
            ) from None
        return value


class ProviderSettings(_Strict):
    """One Enkrypt-style provider: its class and the configuration it is constructed with."""

    provider: str = Field(description="import path 'package.module:Class'")
    config: dict[str, Any] = Field({}, description="what the provider is constructed with")


class PluginsSettings(_Strict):
    """Plugins: a ContextForge plugin configuration file, and Enkrypt-style providers."""

    config: str | None = Field(
        None, description="a ContextForge plugin configuration file (YAML), relative to this file"
    )
    auth: ProviderSettings | list[ProviderSettings] | None = None
    guardrails: ProviderSettings | list[ProviderSettings] | None = None
    telemetry: ProviderSettings | list[ProviderSettings] | None = None

    def providers(self, kind: str) -> list[ProviderSettings]:
        """The providers of ``kind`` (auth, guardrails, telemetry), as a list."""
        found = getattr(self, kind)
        return [] if found is None else found if isinstance(found, list) else [found]


class LoggingSettings(_Strict):
    """The gateway's log lines on standard error."""

    level: Literal["debug", "info", "warning", "error"] = Field("info", description="least level logged")
    format: Literal["text", "json"] = Field("text", description="json: one object per line, a key per field")


DEFAULT_MIDDLEWARE = [
    MiddlewareSettings(use="middleware.telemetry.access_log:AccessLog"),
    MiddlewareSettings(use="middleware.timeouts:Timeouts"),
    # What flows back stays bounded unless a stack is configured without these.
    MiddlewareSettings(use="middleware.limits:ProgressThrottle"),
    MiddlewareSettings(use="middleware.limits:ResultLimits"),
]
