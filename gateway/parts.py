"""The parts the composition root builds from settings: the MCP-tier middleware stack and the
upstream server specs (and how a server that cannot start is reported)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path

from gateway.owners import OwnerLookup
from gateway.remote import http_connector
from gateway.settings import MiddlewareSettings, ServerSettings, Settings, SettingsError
from middleware.plugins import PluginConfigError, PluginManager, Plugins, Resolved
from middleware.protocol import MCPApp, Scope
from upstream.errors import UpstreamError
from upstream.pool.credential_refs import SecretMissing, is_reference, resolve_all
from upstream.pool.credentials import CallerContext, caller_with_token
from upstream.pool.status import COMMAND_NOT_EXECUTABLE, COMMAND_NOT_FOUND, public_reason
from upstream.pool.supervisor import RestartPolicy, ServerSpec
from upstream.routing.owners import NameOwners
from upstream.session.era import PROBE_TIMEOUT
from upstream.transports.base import Transport
from upstream.transports.http_auth import NO_CREDENTIALS
from upstream.transports.reaper import Reaper
from upstream.transports.stdio import StdioTransport

log = logging.getLogger("portcullis.upstream")


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
    app = with_caller(settings, innermost)
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


def with_caller(settings: Settings, app: MCPApp) -> MCPApp:
    """``app`` telling upstream credentials who calls, when a server exchanges the caller's
    token for its own (RFC 8693); otherwise ``app`` itself: nothing to pay for."""
    exchanging = any(
        server.oauth is not None and server.oauth.grant == "token_exchange"
        for server in settings.servers.values()
    )
    return CallerContext(app) if exchanging else app


LIST_OF = {"tool": "tools/list", "prompt": "prompts/list", "resource": "resources/list"}


def with_plugins(app: MCPApp, plugins: PluginManager | None, router: NameOwners) -> MCPApp:
    """``app`` behind the plugin hooks, which learn from ``router`` where a name leads."""
    if plugins is None:
        return app

    owners = OwnerLookup(router)

    async def resolve(scope: Scope, kind: str, name: str) -> Resolved | None:
        found = await owners.owner(scope, LIST_OF[kind], name)
        return None if found is None else Resolved(found.server, found.name, found.definition)

    return Plugins(app, plugins.executor, resolve)


def server_specs(settings: Settings, reaper: Reaper) -> list[ServerSpec]:
    specs = []
    for name, server in settings.servers.items():
        connect: Callable[[], Transport]
        if server.url is not None:
            connect = http_connector(name, server)
        else:
            connect = stdio_connector(name, server, reaper)
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
                admit=caller_with_token(name)
                if server.oauth is not None and server.oauth.grant == "token_exchange"
                else None,
            )
        )
    return specs


def stdio_connector(name: str, server: ServerSettings, reaper: Reaper) -> Callable[[], Transport]:
    """A factory of fresh stdio transports; ``env`` values that name secrets (``${VAR}``,
    ``file:``) are read at each start, so a rotated secret reaches the next process, and a missing
    one fails this server's start (named, with the fix), not the gateway."""
    assert server.command is not None
    command, args, env = server.command, tuple(server.args), dict(server.env)
    referenced = any(is_reference(value) for value in env.values())

    def connect() -> Transport:
        try:
            resolved = resolve_all(env, f"servers.{name}.env", header=False) if referenced else env
        except SecretMissing as exc:
            log.warning("[%s] %s", name, exc.detail)
            raise UpstreamError(name, f"failed to start: {NO_CREDENTIALS}: {exc.detail}") from None
        return StdioTransport(
            name,
            command,
            args,
            env=resolved,
            cwd=server.cwd,
            reaper=reaper,
            max_message_bytes=server.max_message_bytes,
        )

    return connect


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
