"""SIGHUP (and ``portcullis reload``): apply new settings to a running gateway in place.

What changes without a restart: servers (added, removed, changed: a changed one restarts),
keys and the tenancy, policies, rate limits, plugins and guardrails, the middleware stack and
routing, the audit trail (its file is opened again, for logrotate) and traces. The MCP
endpoints are rebuilt around the same session store, live sessions and unchanged upstreams, so
a session stays open; its next call meets the new keys and policies, so a principal who lost
access is refused then. New settings that are invalid change nothing. What cannot change in
place (the listener, sessions, Redis, logging, metrics...) is logged as needing a restart, and
the running value stays.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gateway.settings import Settings, SettingsError, find_settings_file, load_settings

if TYPE_CHECKING:  # the CLI's `reload` imports this module: what a running gateway needs waits
    from gateway.audit import AuditSink
    from gateway.rate_limits import RateLimiting
    from gateway.readiness import Drain
    from gateway.tenancy import Tenancy
    from gateway.tracing import Tracing, Untraced
    from middleware.plugins import PluginManager
    from middleware.protocol import Receive, Scope, Send
    from upstream.pool.supervisor import Supervisor
    from upstream.routing.readiness import Readiness
    from upstream.routing.router import Router
    from upstream.transports.reaper import Reaper

log = logging.getLogger("portcullis")

RESTART_ONLY = ("host", "port", "http", "sessions", "logging", "redis", "cache", "admin")
"""Tables a reload cannot apply: they shape the listener or state opened once at start."""
AUTH_IN_PLACE = frozenset({"api_keys"})
"""The only ``[auth]`` key a reload applies (the authentication chain is built once)."""
TELEMETRY_IN_PLACE = frozenset({"audit", "traces"})
"""The ``[telemetry]`` tables a reload applies (metrics and providers are set up once)."""

_lock = asyncio.Lock()


class Reloadable(Protocol):
    """What a reload swaps on the gateway (:class:`gateway.app.Gateway`)."""

    settings: Settings
    key_hashes: dict[str, str]
    tenancy: Tenancy
    rate_limiting: RateLimiting
    plugins: PluginManager | None
    reaper: Reaper
    supervisors: dict[str, Supervisor]
    routers: dict[str, Router]
    readiness: Readiness
    draining: Drain
    audit_sink: AuditSink
    tracing: Tracing | Untraced

    def retrace(self, tracing: Tracing | Untraced) -> None: ...

    async def reload(self, settings: Settings) -> None:
        """:func:`reload_gateway`, and what the gateway attaches to its new parts."""
        ...

    def _add_supervisors(self, only: Collection[str] | None = None) -> None: ...

    @property
    def endpoints(self) -> dict[str, Any]: ...

    def _add_endpoints(self) -> None: ...


def restart_needed(old: Settings, new: Settings) -> list[str]:
    """The keys that changed but apply only at the next start."""
    changed = [name for name in RESTART_ONLY if getattr(old, name) != getattr(new, name)]
    old_auth = old.auth.model_dump(exclude=set(AUTH_IN_PLACE))
    if old_auth != new.auth.model_dump(exclude=set(AUTH_IN_PLACE)):
        changed.append("auth (other than api_keys)")
    if old.telemetry.model_dump(exclude=set(TELEMETRY_IN_PLACE)) != new.telemetry.model_dump(
        exclude=set(TELEMETRY_IN_PLACE)
    ):
        changed.append("telemetry (other than audit and traces)")
    for table, key in (("ops", "pid_file"), ("guardrails", "store")):
        if getattr(getattr(old, table), key) != getattr(getattr(new, table), key):
            changed.append(f"{table}.{key}")  # the pid file written; the store the tenancy polls
    return changed


def server_changes(old: Settings, new: Settings) -> tuple[set[str], set[str], set[str]]:
    """Servers added, removed, and changed (to restart), by name."""
    added = set(new.servers) - set(old.servers)
    removed = set(old.servers) - set(new.servers)
    changed = {name for name in set(old.servers) & set(new.servers) if old.servers[name] != new.servers[name]}
    return added, removed, changed


def key_hashes(old: Settings, new: Settings, running: dict[str, str]) -> dict[str, str]:
    """The new settings' keys, plus a local key ``serve`` made for this run, if any."""
    declared = {key.sha256 for key in old.auth.api_keys}
    local = {digest: who for digest, who in running.items() if digest not in declared}
    fresh = {key.sha256: key.principal for key in new.auth.api_keys}
    return fresh or local


async def reload_gateway(gateway: Reloadable, new: Settings) -> None:
    """Apply ``new`` to ``gateway``; raises :class:`SettingsError`, changing nothing, when it is
    invalid. One reload at a time."""
    async with _lock:
        await _reload(gateway, new)


async def _reload(gateway: Reloadable, new: Settings) -> None:
    from gateway.parts import build_mcp_stack
    from gateway.tenancy import settings_problems
    from gateway.tracing import tracing_for

    old = gateway.settings
    problems = settings_problems(new)
    if problems:
        raise SettingsError("settings", problems)
    build_mcp_stack(new, _nothing)  # every middleware imports and takes its options
    needs_restart = restart_needed(old, new)
    for key in needs_restart:
        _keep(old, new, key)
    tracing = tracing_for(new.telemetry.traces) if old.telemetry.traces != new.telemetry.traces else None
    replace_plugins, plugins = await _new_plugins(gateway, old, new)
    for key in needs_restart:
        log.warning("reload: %s changed; restart the gateway to apply it (the running value stays)", key)
    gateway.settings = new
    gateway.audit_sink.reopen(new)
    retired_tracing = gateway.tracing if tracing is not None else None
    if tracing is not None:
        gateway.retrace(tracing)  # the MCP tier follows when the endpoints are rebuilt below
    gateway.draining.retry_after = new.ops.retry_after
    gateway.key_hashes = key_hashes(old, new, gateway.key_hashes)
    await gateway.tenancy.reload(new, gateway.key_hashes)
    retired_limits = await _swap_rate_limits(gateway, old, new)
    retired_plugins = None
    if replace_plugins:
        retired_plugins, gateway.plugins = gateway.plugins, plugins
    await _swap_servers(gateway, old, new)
    if retired_limits is not None:
        await retired_limits.close()
    if retired_plugins is not None:
        await retired_plugins.shutdown()
    if retired_tracing is not None:
        await retired_tracing.close()  # exports what it still holds
    log.info("reload: applied (%d servers: %s)", len(new.servers), ", ".join(new.servers) or "none")


async def _nothing(scope: Scope, receive: Receive, send: Send) -> None:
    return None


async def _new_plugins(
    gateway: Reloadable, old: Settings, new: Settings
) -> tuple[bool, PluginManager | None]:
    """Whether the plugins change (their file is read again whenever there is one), and the
    new ones, started."""
    from gateway.guardrails import with_builtin_guardrails
    from gateway.parts import load_plugins
    from gateway.providers import with_guardrails

    same = old.plugins == new.plugins and old.guardrails == new.guardrails
    if same and new.plugins.config is None:
        return False, None
    plugins = with_builtin_guardrails(new, with_guardrails(new, load_plugins(new, gateway.reaper)))
    if plugins is not None:
        try:
            await plugins.initialize()
        except Exception as exc:  # boundary: a plugin that cannot start keeps the old ones
            await plugins.shutdown()
            raise SettingsError(
                "plugins", [f"a plugin did not start ({type(exc).__name__}: {exc})"]
            ) from None
    return True, plugins


def _keep(old: Settings, new: Settings, key: str) -> None:
    """Put the running value of ``key`` back into ``new``, so that the gateway tells the truth."""
    if key.startswith("auth"):
        new.auth = old.auth.model_copy(update={"api_keys": new.auth.api_keys})
    elif key.startswith("telemetry"):
        in_place = {name: getattr(new.telemetry, name) for name in TELEMETRY_IN_PLACE}
        new.telemetry = old.telemetry.model_copy(update=in_place)
    elif "." in key:
        table, name = key.split(".")
        setattr(getattr(new, table), name, getattr(getattr(old, table), name))
    else:
        setattr(new, key, getattr(old, key))


async def _swap_rate_limits(gateway: Reloadable, old: Settings, new: Settings) -> RateLimiting | None:
    """New limits (counted afresh), started, when the rules changed; the retired ones, to close
    once no endpoint uses them."""
    from gateway.rate_limits import RateLimiting

    if old.rate_limits == new.rate_limits:
        return None
    fresh = RateLimiting(new)
    await fresh.start()
    retired, gateway.rate_limiting = gateway.rate_limiting, fresh
    return retired


async def _swap_servers(gateway: Reloadable, old: Settings, new: Settings) -> None:
    """Stop removed and changed servers, start added and changed ones, rebuild the endpoints."""
    added, removed, changed = server_changes(old, new)
    retired = [gateway.supervisors.pop(name) for name in sorted(removed | changed)]
    gateway._add_supervisors(added | changed)
    old_readiness = gateway.readiness
    gateway.routers.clear()  # no await from here: no request sees half the endpoints
    gateway.endpoints.clear()
    gateway._add_endpoints()
    for name in sorted(added | changed | removed):
        log.warning("reload: server %r %s", name, _verb(name, added, removed))
    await old_readiness.close()
    await asyncio.gather(*(supervisor.close() for supervisor in retired))
    eager = [gateway.supervisors[n] for n in added | changed if new.servers[n].start == "eager"]
    await asyncio.gather(*(s.connection() for s in eager if not s.spec.per_client), return_exceptions=True)
    for router in gateway.routers.values():
        await router.prime()


def _verb(name: str, added: set[str], removed: set[str]) -> str:
    return "added" if name in added else "removed" if name in removed else "changed: restarted"


async def reload_from(gateway: Reloadable, reread: Callable[[], Settings]) -> None:
    """SIGHUP: read the settings again (``reread`` checks them as ``serve`` does) and apply
    them; invalid ones change nothing and the log says why."""
    try:
        settings = await asyncio.to_thread(reread)
        await gateway.reload(settings)  # not reload_gateway: new plugins need their metrics
    except SettingsError as error:
        log.error("reload refused, the running settings stay: %s", "; ".join(error.problems))
    except Exception:  # boundary: a task of its own; say so rather than lose it
        log.exception("reload failed part-way; check `portcullis check` and restart the gateway")


def pid_path(settings: Settings, settings_file: Path | None) -> Path | None:
    """Where ``serve`` writes its pid: ``[ops] pid_file``, relative to the settings file."""
    if not settings.ops.pid_file:
        return None
    base = settings_file.parent if settings_file is not None else Path.cwd()
    return (base / settings.ops.pid_file).resolve()


def write_pid(path: Path) -> None:
    try:
        path.write_text(f"{os.getpid()}\n")
    except OSError as exc:
        log.warning("cannot write the pid file %s (%s); `portcullis reload` needs --pid", path, exc.strerror)


def remove_pid(path: Path) -> None:
    """Remove the pid file if it is still ours (another gateway may have written it since)."""
    try:
        if path.read_text().strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        return


def read_pid(settings: Settings, settings_file: Path | None) -> tuple[int | None, str]:
    """The pid in the pid file of these settings (None when absent), and where it was looked for."""
    path = pid_path(settings, settings_file)
    if path is None:
        return None, "no pid file ([ops] pid_file is empty)"
    try:
        return int(path.read_text().strip()), str(path)
    except (OSError, ValueError):
        return None, str(path)


def signal_reload(pid: int) -> None:
    """Ask the gateway running as ``pid`` to reload its settings."""
    os.kill(pid, signal.SIGHUP)


def reload_command(commands: Any) -> None:
    """``portcullis reload`` among the sub-commands of ``commands``."""
    again = commands.add_parser("reload", help="make the running gateway re-read its settings (SIGHUP)")
    again.add_argument("--settings", help="the settings file the gateway runs with (finds its pid file)")
    again.add_argument("--pid", type=int, help="the gateway's process id (default: from [ops] pid_file)")
    again.set_defaults(handler=reload)


def reload(args: argparse.Namespace) -> int:
    """Signal the running gateway: ``--pid``, else the pid in its pid file."""
    pid = args.pid
    if pid is None:
        try:
            path = find_settings_file(args.settings)
            pid, where = read_pid(load_settings(path), path)
        except SettingsError as error:
            print(
                f"portcullis: invalid settings in {error.source}: {'; '.join(error.problems)}",
                file=sys.stderr,
            )
            return 2
        if pid is None:
            print(f"portcullis: no gateway pid in {where}; is it running? (or pass --pid)", file=sys.stderr)
            return 1
    try:
        signal_reload(pid)
    except OSError as exc:
        print(f"portcullis: cannot signal process {pid} ({exc.strerror})", file=sys.stderr)
        return 1
    print(f"portcullis: asked the gateway (pid {pid}) to reload; its log says what changed")
    return 0
