"""The seed's gateway tools as MCP tools of the aggregate endpoint (/mcp), opt-in per project:
wiring the layer (:mod:`gateway.gateway_tools_layer`) into an endpoint.

Policies, rate limits and plugins see the gateway tools as the tools of a server named by the
prefix (:class:`RouterWithGatewayTools`); the timeout counters are found here when the timeout
middleware is in the stack; the caches are given by the composition root.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from gateway.gateway_tools_layer import CacheControl, GatewayTools, TimeoutMetrics
from gateway.guardrails import instructions_screen
from gateway.settings import Settings, SettingsError
from gateway.settings.gateway_tools import GatewayToolsSettings, prefix_problems
from middleware.protocol import MCPApp, Scope
from middleware.timeouts import OPERATIONS
from upstream.routing.catalog import Owner
from upstream.routing.owners import NameOwners
from upstream.routing.router import Router

__all__ = [
    "CacheControl",
    "RouterWithGatewayTools",
    "TimeoutMetrics",
    "ToolsWiring",
    "timeouts_in",
    "with_gateway_tools",
]

log = logging.getLogger("portcullis.gateway_tools")

ToolsWiring = tuple[MCPApp, NameOwners, Callable[[MCPApp], None]]
"""The layer, whom the outer layers ask where names lead, and the hook giving the layer the whole stack."""


class OperationTimeouts:
    """The timeout middleware's counters per operation type (the seed's timeout manager)."""

    def timeout_metrics(self) -> dict[str, Any]:
        return {"operation_types": OPERATIONS.snapshot()}


def timeouts_in(settings: Settings) -> TimeoutMetrics | None:
    """The counters, when the timeout middleware is in the stack (nothing counts otherwise)."""
    running = any(entry.use == "middleware.timeouts:Timeouts" for entry in settings.middleware)
    return OperationTimeouts() if running else None


class RouterWithGatewayTools:
    """The router as policies, rate limits, plugins and metrics ask it where a name leads
    (:class:`~upstream.routing.owners.NameOwners`), owning the gateway tools too: as the tools
    of a server named by the prefix."""

    def __init__(self, router: Router, tools: GatewayTools) -> None:
        self.router = router
        self.tools = tools
        self.servers: Sequence[str] = router.servers
        self.pinned: str | None = router.pinned

    def _owner(self, list_method: str, key: str) -> Owner | None:
        name = self.tools.names.get(key) if list_method == "tools/list" else None
        return Owner(self.tools.prefix, name) if name is not None else None

    def listed_owner(self, list_method: str, key: str) -> Owner | None:
        return self._owner(list_method, key) or self.router.listed_owner(list_method, key)

    async def owner_of(
        self, scope: Scope, list_method: str, key: str
    ) -> tuple[Owner, dict[str, Any] | None] | None:
        owner = self._owner(list_method, key)
        if owner is None:
            return await self.router.owner_of(scope, list_method, key)
        definitions = {item["name"]: item for item in self.tools.definitions}
        return owner, definitions.get(key)

    async def resource_owner(self, scope: Scope, uri: str) -> Owner | None:
        return await self.router.resource_owner(scope, uri)


def with_gateway_tools(
    app: MCPApp,
    router: Router,
    settings: Settings,
    project_servers: Callable[[str], tuple[str, ...] | None] | None = None,
    *,
    cache: CacheControl | None = None,
    timeouts: TimeoutMetrics | None = None,
) -> ToolsWiring:
    """For the aggregate endpoint: ``app`` behind the gateway tools, the router the outer
    layers should ask where names lead, and the hook that gives the tools the finished stack.
    Unchanged (and free) when the tools are off or the endpoint is pinned to one server."""
    config: GatewayToolsSettings = settings.gateway_tools
    if not config.enabled or router.pinned is not None:
        return app, router, lambda stack: None
    problems = prefix_problems(config, settings.prefixes, settings.routing.separator)
    if problems:
        raise SettingsError("settings", problems)
    if any(prefix == "" for prefix in settings.prefixes.values()):
        log.warning("gateway tools: a server without a prefix could shadow the names under %r", config.prefix)
    timeouts = timeouts if timeouts is not None else timeouts_in(settings)
    tools = GatewayTools(
        app,
        router,
        settings=settings,
        screen=instructions_screen(settings.guardrails),
        project_servers=project_servers,
        cache=cache,
        timeouts=timeouts,
    )

    def finished(stack: MCPApp) -> None:
        tools.outer = stack

    return tools, RouterWithGatewayTools(router, tools), finished
