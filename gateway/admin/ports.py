"""What the admin API needs from the rest of the gateway, as Protocols.

:class:`AdminTarget` is what :class:`gateway.app.Gateway` already offers. The others belong to
parts built elsewhere (the cache, the timeout manager, hot reload), wired through
:class:`AdminParts` by the composition root; a part not there makes its routes answer 501.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry

from gateway.admin.attempts import WrongAttempts
from gateway.front.sessions import LiveSessions, SessionEnds, SessionStore
from gateway.settings import Settings
from gateway.tenancy import Tenancy
from middleware.plugins import PluginManager
from middleware.protocol.http import ASGIApp
from upstream.pool.supervisor import Supervisor
from upstream.routing.catalog import Served

if TYPE_CHECKING:
    from gateway.admin.http import Context


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

    def served_tools(self) -> Mapping[str, Sequence[Served] | None]:
        """Each server's last tools list as it sent it; None before it answered one."""
        ...


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


class RecentDecisions(Protocol):
    """The last audit records, kept in memory whatever the sink (gateway.audit.RecentAudit)."""

    def recent(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Newest first, at most ``limit``; fields as the audit trail writes them, masked."""
        ...


class ConsoleApp(Protocol):
    """Makes the web console (gateway.console.console_app), which the admin listener serves
    under /console: passed in by the composition root, so the API does not import the console
    that is built on it."""

    def __call__(
        self, context: Context, sha256: str | None, *, allowed_hosts: Iterable[str], attempts: WrongAttempts
    ) -> ASGIApp: ...


@dataclass
class AdminParts:
    """The optional parts; None when this gateway runs without them (see docs/admin-api.md)."""

    cache: CacheControl | None = None
    timeouts: TimeoutMetrics | None = None
    reloader: ConfigReloader | None = None
    audit: RecentDecisions | None = None
    metrics: CollectorRegistry | None = None
    """The gateway's Prometheus registry, when metrics are on (the console's headline numbers)."""
    console: ConsoleApp | None = None
