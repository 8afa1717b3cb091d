"""What the admin API needs from the rest of the gateway, as Protocols.

:class:`AdminTarget` is what :class:`gateway.app.Gateway` already offers. The others belong to
parts built elsewhere (the cache, the timeout manager, hot reload), wired through
:class:`AdminParts` by the composition root; a part not there makes its routes answer 501.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.front.sessions import LiveSessions, SessionEnds, SessionStore
from gateway.settings import Settings
from gateway.tenancy import Tenancy
from middleware.plugins import PluginManager
from upstream.pool.supervisor import Supervisor


class AdminTarget(Protocol):
    """The running gateway, as far as the admin API reads or changes it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def supervisors(self) -> Mapping[str, Supervisor]: ...

    @property
    def plugins(self) -> PluginManager | None: ...

    @property
    def live(self) -> LiveSessions: ...

    @property
    def store(self) -> SessionStore: ...

    @property
    def ends(self) -> SessionEnds: ...

    @property
    def tenancy(self) -> Tenancy: ...

    def health(self) -> tuple[dict[str, Any], int]: ...


class CacheControl(Protocol):
    """The cache (gateway.caching.Caching): what it holds, and forgetting it."""

    def status(self) -> dict[str, Any]:
        """Entries, bytes, hits and misses per cache (no keys: they may name arguments)."""
        ...

    async def clear(self, server: str | None = None) -> int:
        """Forget every entry (of ``server`` only, if given); how many went."""
        ...


class TimeoutMetrics(Protocol):
    """The timeout manager's counters per operation type (gateway.gateway_tools.timeouts_in);
    absent when the timeout middleware is not in the stack."""

    def timeout_metrics(self) -> dict[str, Any]: ...


class ConfigReloader(Protocol):
    """Hot reload (gateway/reload.py, what SIGHUP runs): apply settings without a restart."""

    async def reload(self, settings: Settings) -> None:
        """Apply ``settings`` in place; raises SettingsError, changing nothing, when refused."""
        ...


@dataclass
class AdminParts:
    """The optional parts; None when this gateway runs without them (see docs/admin-api.md)."""

    cache: CacheControl | None = None
    timeouts: TimeoutMetrics | None = None
    reloader: ConfigReloader | None = None
