"""The parts the composition root builds from settings: the MCP-tier middleware stack and the
upstream server specs (and how a server that cannot start is reported)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

from gateway.remote import http_connector
from gateway.settings import MiddlewareSettings, Settings, SettingsError
from middleware.plugins import PluginConfigError, PluginManager, Plugins, Resolved
from middleware.protocol import MCPApp, Scope
from upstream.errors import UpstreamError
from upstream.pool.status import COMMAND_NOT_EXECUTABLE, COMMAND_NOT_FOUND, public_reason
from upstream.pool.supervisor import RestartPolicy, ServerSpec
from upstream.routing.router import Router
from upstream.session.era import PROBE_TIMEOUT
from upstream.transports.base import Transport
from upstream.transports.reaper import Reaper
from upstream.transports.stdio import StdioTransport


def load_middleware(entry: MiddlewareSettings, index: int) -> Callable[..., MCPApp]:
    module_name, _, attribute = entry.use.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise SettingsError(
            "settings", [f"middleware[{index}].use: cannot import {entry.use!r} ({exc})"]
        ) from None
    if not callable(factory):
        raise SettingsError("settings", [f"middleware[{index}].use: {entry.use!r} is not callable"])
    result: Callable[..., MCPApp] = factory
    return result


def build_mcp_stack(settings: Settings, innermost: MCPApp) -> MCPApp:
    """Wrap ``innermost`` in the configured middlewares; the first listed is the outermost."""
    app = innermost
    for index in reversed(range(len(settings.middleware))):
        entry = settings.middleware[index]
        factory = load_middleware(entry, index)
        try:
            app = factory(app, **entry.options)
        except (TypeError, ValueError) as exc:
            raise SettingsError(
                "settings", [f"middleware[{index}].options: {entry.use} refused them ({exc})"]
            ) from None
    return app


def load_plugins(settings: Settings, reaper: Reaper | None = None) -> PluginManager | None:
    """The plugins ``[plugins] config`` names, constructed (not started); None without one."""
    if settings.plugins.config is None:
        return None
    from gateway.plugin_servers import SupervisedPluginServer

    processes = reaper or Reaper()
    try:
        return PluginManager.from_file(
            Path(settings.plugins.config), lambda entry: SupervisedPluginServer(entry, processes)
        )
    except PluginConfigError as error:
        raise SettingsError(error.path, error.problems) from None


LIST_OF = {"tool": "tools/list", "prompt": "prompts/list", "resource": "resources/list"}


def with_plugins(app: MCPApp, plugins: PluginManager | None, router: Router) -> MCPApp:
    """``app`` behind the plugin hooks, which learn from ``router`` where a name leads."""
    if plugins is None:
        return app

    async def resolve(scope: Scope, kind: str, name: str) -> Resolved | None:
        found = await router.owner_of(scope, LIST_OF[kind], name)
        if found is None:
            return None
        owner, definition = found
        return Resolved(owner.server, owner.name, definition)

    return Plugins(app, plugins.executor, resolve)


def server_specs(settings: Settings, reaper: Reaper) -> list[ServerSpec]:
    specs = []
    for name, server in settings.servers.items():
        connect: Callable[[], Transport]
        if server.url is not None:
            connect = http_connector(name, server)
        else:
            assert server.command is not None
            connect = partial(
                StdioTransport,
                name,
                server.command,
                tuple(server.args),
                env=dict(server.env),
                cwd=server.cwd,
                reaper=reaper,
                max_message_bytes=server.max_message_bytes,
            )
        specs.append(
            ServerSpec(
                name=name,
                connect=connect,
                start_eagerly=server.start == "eager",
                startup_timeout=server.startup_timeout,
                restart=RestartPolicy(**server.restart.model_dump()),
                per_client=server.session_mode == "per_client",
                idle_timeout=settings.sessions.idle_timeout,
                # 2024-11-05 HTTP+SSE predates the modern era: nothing to probe there.
                era="legacy" if server.url is not None and server.transport == "sse" else server.era,
                # A legacy HTTP server answers a probe with a status; a stdio one may stay silent.
                probe_timeout=None if server.url is not None else min(PROBE_TIMEOUT, server.startup_timeout),
                remember_era=server.url is not None,
            )
        )
    return specs


def eager_start_failure(name: str, error: UpstreamError) -> str:
    """One line for a server that did not start with the gateway: what failed, the fix, and
    that the others are served anyway."""
    if public_reason(error) in (COMMAND_NOT_FOUND, COMMAND_NOT_EXECUTABLE):
        fix = f"install it or fix servers.{name}.command (`portcullis check` tests it)"
    else:
        fix = f"see its output above and servers.{name} in the settings"
    detail = error.detail.removeprefix("failed to start: ")
    return (
        f"[{name}] did not start: {detail}; {fix}. Serving the other servers; calls to "
        f"{name!r} fail until it starts (it is retried when called)"
    )
