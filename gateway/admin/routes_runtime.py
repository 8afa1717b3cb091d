"""What runs: servers, plugins, sessions, the policies as loaded, the cache and timeouts."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request

from gateway.admin.http import ApiError, Context, Op, body, field_of, not_built
from gateway.admin.ports import CacheControl
from gateway.front.sessions import EndReason
from middleware.plugins.executor import LoadedPlugin
from middleware.plugins.models import PluginMode
from middleware.protocol.audit import REFUSALS

SESSION_PREFIX = 8
"""Characters of a session id shown and accepted: enough to tell sessions apart, too few to use one."""
MODERN_ERA = "2026-07-28"


async def list_servers(context: Context, request: Request) -> Any:
    health, _ = context.target.health()
    return health


async def restart_server(context: Context, request: Request) -> Any:
    """Stop the shared server and start it again at once: an operator's restart, not a crash."""
    name = request.path_params["name"]
    supervisor = context.target.supervisors.get(name)
    if supervisor is None:
        raise ApiError(404, f"no server {name!r}", "GET /api/v1/servers lists them")
    if supervisor.spec.per_client:
        raise ApiError(
            409, f"{name!r} runs one process per client session", "end the sessions using it instead"
        )
    await supervisor.restart()
    return {"server": name, "state": "restarting"}


def _plugin_json(plugin: LoadedPlugin) -> dict[str, Any]:
    config = plugin.config
    return {
        "name": plugin.name,
        "kind": config.kind,
        "mode": config.mode.value,
        "hooks": list(config.hooks),
        "priority": config.priority,
        "description": config.description,
    }


async def list_plugins(context: Context, request: Request) -> Any:
    manager = context.target.plugins
    return [_plugin_json(p) for p in manager.executor.plugins] if manager is not None else []


def _set_mode(context: Context, name: str, mode: PluginMode | None) -> dict[str, Any]:
    """Change a loaded plugin's mode at run time (None: back to the mode it had before being
    disabled here); the hooks middleware sees the executor's new index on its next call."""
    manager = context.target.plugins
    found = [p for p in manager.plugins if p.name == name] if manager is not None else []
    if manager is None or not found:
        raise ApiError(
            404,
            f"no loaded plugin {name!r}",
            "GET /api/v1/plugins lists them; a plugin disabled in its configuration file is not "
            "loaded: enable it there and restart",
        )
    plugin = found[0]
    current = plugin.config.mode
    if mode is None:
        mode = (
            context.modes_before.pop(name, PluginMode.ENFORCE) if current is PluginMode.DISABLED else current
        )
    elif mode is PluginMode.DISABLED and current is not PluginMode.DISABLED:
        context.modes_before[name] = current
    plugin.refresh(plugin.config.model_copy(update={"mode": mode}))
    manager.executor.index(manager.plugins)
    return _plugin_json(plugin)


async def plugin_mode(context: Context, request: Request) -> Any:
    mode = field_of(await body(request), "mode", str)
    try:
        chosen = PluginMode(mode)
    except ValueError:
        modes = ", ".join(m.value for m in PluginMode)
        raise ApiError(400, f"{mode!r} is not a plugin mode", f"use one of: {modes}") from None
    return _set_mode(context, request.path_params["name"], chosen)


async def disable_plugin(context: Context, request: Request) -> Any:
    return _set_mode(context, request.path_params["name"], PluginMode.DISABLED)


async def enable_plugin(context: Context, request: Request) -> Any:
    return _set_mode(context, request.path_params["name"], None)


async def list_policies(context: Context, request: Request) -> Any:
    return [rule.model_dump(mode="json") for rule in context.target.settings.policies]


async def list_sessions(context: Context, request: Request) -> Any:
    now = time.time()
    live = set(context.target.live.ids())
    return [
        {
            "id": record.id[:SESSION_PREFIX],
            "principal": record.principal,
            "project": record.project,
            "endpoint": record.endpoint,
            "protocol_version": record.protocol_version,
            "era": "2026-07-28" if record.protocol_version >= MODERN_ERA else "2025",
            "age_seconds": round(now - record.created, 1),
            "idle_seconds": round(now - record.last_seen, 1),
            "live_here": record.id in live,
        }
        for record in sorted(await context.target.store.records(), key=lambda r: r.created)
    ]


async def end_session(context: Context, request: Request) -> Any:
    prefix = request.path_params["prefix"]
    if len(prefix) < SESSION_PREFIX:
        raise ApiError(400, "the session id is too short", f"give at least {SESSION_PREFIX} characters")
    matches = [r.id for r in await context.target.store.records() if r.id.startswith(prefix)]
    if not matches:
        raise ApiError(404, f"no session {prefix!r}", "GET /api/v1/sessions lists them")
    if len(matches) > 1:
        raise ApiError(409, f"{prefix!r} names {len(matches)} sessions", "give more of the id")
    await context.target.ends.end(matches[0], EndReason.DELETED)
    return {"ended": prefix}


def _cache(context: Context) -> CacheControl:
    if context.parts.cache is None:
        raise not_built("the cache", "the caching work of issue 13")
    return context.parts.cache


async def cache_status(context: Context, request: Request) -> Any:
    return _cache(context).status()


async def cache_clear(context: Context, request: Request) -> Any:
    server = field_of(await body(request), "server", str, None)
    return {"cleared": await _cache(context).clear(server)}


async def timeout_metrics(context: Context, request: Request) -> Any:
    if context.parts.timeouts is None:
        raise ApiError(
            501,
            "timeout metrics are counted by the timeout middleware, which is not in the stack",
            'add {use = "middleware.timeouts:Timeouts"} to [[middleware]]',
        )
    return context.parts.timeouts.timeout_metrics()


def _limit(text: str | None) -> int:
    try:
        limit = int(text) if text else 100
    except ValueError:
        raise ApiError(400, f"limit {text!r} is not a number", "send limit=1 to limit=500") from None
    return max(1, min(limit, 500))


async def recent_audit(context: Context, request: Request) -> Any:
    """The last decisions (kept in memory, whatever the audit sink), newest first."""
    if context.parts.audit is None:
        raise ApiError(501, "this gateway keeps no recent audit records", "turn [telemetry.audit] on")
    wanted = request.query_params.get("verdict")
    verdicts = REFUSALS if wanted == "refusals" else set(wanted.split(",")) if wanted else None
    records = context.parts.audit.recent()
    kept = [r for r in records if verdicts is None or r.get("verdict") in verdicts]
    return kept[: _limit(request.query_params.get("limit"))]


OPS = [
    Op("GET", "/servers", list_servers, "Every server and its state", "servers"),
    Op("POST", "/servers/{name}/restart", restart_server, "Restart a (shared) server", "servers"),
    Op("GET", "/plugins", list_plugins, "Loaded plugins and built-in guardrails", "plugins"),
    Op(
        "POST",
        "/plugins/{name}/mode",
        plugin_mode,
        "Change a plugin's mode at run time (not saved)",
        "plugins",
        {
            "type": "object",
            "properties": {"mode": {"enum": [m.value for m in PluginMode]}},
            "required": ["mode"],
        },
    ),
    Op("POST", "/plugins/{name}/disable", disable_plugin, "Disable a plugin at run time", "plugins"),
    Op("POST", "/plugins/{name}/enable", enable_plugin, "Enable it again, in its former mode", "plugins"),
    Op("GET", "/policies", list_policies, "The policy rules as loaded", "policies"),
    Op("GET", "/sessions", list_sessions, "Sessions, without secrets (id prefixes)", "sessions"),
    Op("DELETE", "/sessions/{prefix}", end_session, "End a session (by id prefix)", "sessions"),
    Op("GET", "/cache", cache_status, "What the caches hold", "cache"),
    Op(
        "POST",
        "/cache/clear",
        cache_clear,
        "Forget cached lists and results",
        "cache",
        {"type": "object", "properties": {"server": {"type": "string"}}},
    ),
    Op("GET", "/timeouts", timeout_metrics, "Timeouts per operation type, with counts", "timeouts"),
    Op(
        "GET",
        "/audit/recent",
        recent_audit,
        "The last audit records (up to 500, in memory), newest first",
        "audit",
        query={
            "limit": "at most this many (1 to 500; 100 by default)",
            "verdict": "only these verdicts (comma-separated), or 'refusals'",
        },
    ),
]
