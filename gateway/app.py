"""Composition root: build every part once from settings and wire them together.

The path to the MCP endpoints is a dictionary lookup in front of Starlette, which keeps the
side routes (health) and the lifespan; DESIGN.md measured a full Starlette route at twice the
cost of a raw dispatch on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Collection
from functools import partial
from typing import Any

from gateway import __version__
from gateway.admin import AdminParts
from gateway.audit import AuditSink, with_audit
from gateway.caching import Caching
from gateway.console import console_app
from gateway.front.bus import ReplicaLink
from gateway.front.endpoint import MCPEndpoint
from gateway.front.events import EventStore
from gateway.front.listen import Listener
from gateway.front.modern import ModernFront
from gateway.front.mrtr import ParkedCalls
from gateway.front.own_answers import OwnAnswers
from gateway.front.request_state import RequestStates
from gateway.front.sessions import EndReason, LiveSessions, SessionEnds, SessionStore
from gateway.front.shutdown import InFlight
from gateway.front.task_relay import TaskRelay
from gateway.front.unsolicited import LIST_CHANGED, SessionChannel, Unsolicited
from gateway.gateway_tools import ToolsWiring, timeouts_in, with_gateway_tools
from gateway.guardrails import instructions_screen, with_builtin_guardrails
from gateway.http_app import TracingSwitch, gateway_asgi
from gateway.metrics import GatewayMetrics
from gateway.parts import build_mcp_stack, eager_start_failure, load_plugins, server_specs, with_plugins
from gateway.policies import with_policies
from gateway.providers import start_telemetry, with_guardrails
from gateway.rate_limits import RateLimiting
from gateway.readiness import Drain, health
from gateway.reload import reload_gateway
from gateway.settings import Settings
from gateway.state.events_choice import close_event_store, event_store
from gateway.state.memory import InMemorySessionStore
from gateway.state.redis_bus import RedisBus
from gateway.state.redis_ledger import RedisLedger
from gateway.state.redis_sessions import RedisSessionStore, SessionStoreUnavailable
from gateway.tenancy import Tenancy
from gateway.tracing import Tracing, Untraced, tracing_for
from middleware.protocol import MCPApp
from middleware.protocol.http import ASGIApp
from upstream.errors import UpstreamError
from upstream.pool.per_client import PerClientSupervisor
from upstream.pool.supervisor import ServerSupervisor, Supervisor
from upstream.routing.catalog import TOOLS, Namespace, Served
from upstream.routing.interest import Interest
from upstream.routing.pages import SnapshotLimits
from upstream.routing.readiness import Readiness
from upstream.routing.router import Router
from upstream.routing.tasks import TaskMap
from upstream.transports.reaper import Reaper

log = logging.getLogger("portcullis")


class Gateway:
    """Everything with a lifetime: upstream supervisors, sessions, background tasks."""

    def __init__(self, settings: Settings, *, key_hashes: dict[str, str]) -> None:
        self.settings = settings
        self.key_hashes = key_hashes
        self.tenancy = Tenancy(settings, key_hashes)
        self.rate_limiting = RateLimiting(settings)
        self.reaper = Reaper()
        self.plugins = with_builtin_guardrails(
            settings, with_guardrails(settings, load_plugins(settings, self.reaper))
        )
        self.live = LiveSessions()
        self.ends = SessionEnds()
        self.store = session_store(settings, partial(self.ends.end, reason=EndReason.EXPIRED_ON_READ))
        self.interest = Interest()
        self.tasks = TaskMap()
        self.events: EventStore = event_store(settings)  # in Redis with shared sessions
        self._share_with_replicas(settings)
        self.supervisors: dict[str, Supervisor] = {}
        self.unsolicited = Unsolicited(self.live, self.interest, self.supervisors, self.tasks)
        self.caching = Caching(settings)
        self._register_session_holders()
        self._add_supervisors()
        self._janitor: asyncio.Task[None] | None = None
        self.audit_sink = AuditSink(settings)
        self.in_flight = InFlight()
        """Every call being answered, so that shutting down answers each (:meth:`drain`)."""
        self.draining = Drain(settings.ops.retry_after)
        self.server_info = {"name": "portcullis", "title": "Portcullis MCP gateway", "version": __version__}
        self.metrics = GatewayMetrics(settings.telemetry.metrics, plugins=self.plugins)
        self.routers: dict[str, Router] = {}
        self.endpoints: dict[str, MCPEndpoint] = {}
        self.tracing: Tracing | Untraced = tracing_for(settings.telemetry.traces)  # off: wraps nothing
        self.http_tiers: list[TracingSwitch] = []
        """The HTTP tier of each app :meth:`asgi` made, traced as the running settings say."""
        self._add_endpoints()
        self.admin_parts = AdminParts(
            reloader=self,
            timeouts=timeouts_in(settings),
            cache=self.caching,
            audit=self.audit_sink.recent,
            metrics=self.metrics.registry if self.metrics.enabled else None,
            console=console_app,
        )
        """What the admin API uses beyond the gateway itself (gateway/admin/ports.py)."""
        self.metrics.watch(self)

    def _share_with_replicas(self, settings: Settings) -> None:
        """What replicas on one Redis share beyond session records: the ``requestState`` key
        and ledger (the shared Redis, unless one is named) and the replica bus."""
        key = settings.sessions.request_state_key
        shared = settings.redis.connect_url if settings.shared_sessions else None
        # With shared sessions, the shared Redis is the ledger too, unless one is named.
        ledger_url = settings.sessions.request_state_ledger or shared
        self.ledger = RedisLedger(ledger_url, prefix=settings.redis.prefix) if ledger_url else None
        self.bus = RedisBus(shared, prefix=settings.redis.prefix) if shared is not None else None
        """Calls' answers and cancellations a client sent to another replica (gateway/front/bus.py)."""
        self.relay = TaskRelay(self.bus, self.tasks, self._stack_of) if self.bus is not None else None
        self.replicas = (
            ReplicaLink(self.bus, self.live, self.ends, self.relay.heard)
            if self.bus is not None and self.relay is not None
            else None
        )
        self.request_states = RequestStates(
            key.encode() if key else None,
            lifetime=settings.sessions.request_state_lifetime,
            spent=self.ledger,
        )
        self.parked = ParkedCalls(
            self.request_states.lifetime, per_principal=settings.sessions.max_waiting_calls
        )

    def _add_supervisors(self, only: Collection[str] | None = None) -> None:
        """One supervisor per configured server (or those ``only``): per client, or shared."""
        client_info = {"name": "portcullis", "version": __version__}
        for spec in (s for s in server_specs(self.settings, self.reaper) if only is None or s.name in only):
            self.supervisors[spec.name] = (
                PerClientSupervisor(spec, client_info=client_info, session_channel=self._session_channel)
                if spec.per_client
                else ServerSupervisor(
                    spec,
                    client_info=client_info,
                    on_notification=self.caching.notified(self.unsolicited.notification),
                    on_restart=self.caching.restarted(self.unsolicited.server_started),
                )
            )

    def _add_endpoints(self) -> None:
        """The aggregate endpoint (/mcp, names prefixed) and one pinned to each server."""
        settings = self.settings
        namespace = Namespace(settings.prefixes, settings.routing.separator)
        routing = settings.routing
        self.readiness = Readiness(
            self.supervisors, patience=routing.start_patience, on_late=self._arrived_late
        )
        options: dict[str, Any] = {
            "interest": self.interest,
            "tasks": self.tasks,
            "page_size": routing.page_size,
            "snapshots": SnapshotLimits(routing.snapshot_max_bytes, routing.snapshot_max_age),
            "readiness": self.readiness,
            **self.caching.router_options(),
        }
        self._add_endpoint("/mcp", Router(self.supervisors, namespace, **options))
        for name in self.supervisors:
            unprefixed = Namespace({name: ""}, routing.separator)
            pinned = Router(self.supervisors, unprefixed, pinned=name, **options)
            self._add_endpoint(f"/servers/{name}/mcp", pinned, name)

    async def reload(self, settings: Settings) -> None:
        """Apply new settings in place (SIGHUP); what changes and how: gateway/reload.py."""
        await reload_gateway(self, settings)
        self.metrics.count_verdicts(self.plugins)  # a reload may have brought new plugins

    def _arrived_late(self, server: str) -> None:
        """A server started after lists went out without it: clients list again."""
        for method in LIST_CHANGED:
            self.unsolicited.notification(server, {"jsonrpc": "2.0", "method": method})

    def _register_session_holders(self) -> None:
        """Everything that keeps per-session state hears when a session ends, whatever ended
        it: first the record goes (nobody can reach the session any more), then the rest."""
        ends = self.ends
        # A shared record outlives this replica: shutting down here does not end it; a session
        # another replica ended has no record left.
        here_only = [EndReason.SHUTDOWN, EndReason.ENDED_ELSEWHERE]
        ends.register("session store", self.store.delete, skip=here_only)
        ends.register("session copy", self.store.forget, skip=[EndReason.SHUTDOWN])
        if self.replicas is not None:  # the others let go of it too (not when this one stops)
            ends.register("replicas", self.replicas.ended, skip=here_only)
        ends.register("live sessions", self.live.session_ended)
        ends.register("event store", self.events.forget, skip=here_only)  # resumable elsewhere
        # Upstreams are closing anyway on shutdown: no goodbyes to send them one by one.
        ends.register("upstream interest", self.unsolicited.session_ended, skip=[EndReason.SHUTDOWN])

    def _add_endpoint(self, path: str, router: Router, pinned: str | None = None) -> None:
        self.routers[path] = router
        own = OwnAnswers(
            router,
            server_info=self.server_info,
            readiness=self.readiness,
            screen=instructions_screen(self.settings.guardrails),
        )
        tooled, owners, finish_tools = self._gateway_tools(own, router, path)
        guarded = with_plugins(with_audit(self.settings, tooled), self.plugins, owners)
        stack = build_mcp_stack(
            self.settings,
            with_policies(
                self.rate_limiting.wrap(guarded, owners),
                self.settings,
                owners,
                project_servers=self.tenancy.project_servers,
            ),
        )
        stack = self.metrics.wrap(stack, owners)  # outermost: sees every answer, refusals too
        stack = self.tracing.mcp(stack)  # outermost in the MCP tier: its span covers every layer
        finish_tools(stack)
        self.endpoints[path] = self._front(stack, path, pinned)

    def _stack_of(self, path: str) -> MCPApp | None:
        endpoint = self.endpoints.get(path)
        return endpoint.app if endpoint is not None else None

    def _front(self, stack: MCPApp, path: str, pinned: str | None) -> MCPEndpoint:
        """The streamable-HTTP front of one endpoint, both eras, around its MCP-tier stack."""
        if self.relay is not None:  # a task another replica holds is asked of it
            stack = self.relay.wrap(stack, path)
        keepalive = self.settings.http.sse_keepalive
        modern = ModernFront(
            stack,
            pinned=pinned,
            states=self.request_states,
            parked=self.parked,
            resumed_elsewhere=self.ledger.resumed_elsewhere if self.ledger is not None else None,
            listener=Listener(
                stack, self.live, self.ends, path=path, keepalive=keepalive, server_info=self.server_info
            ),
            server_info=self.server_info,
            keepalive=keepalive,
            in_flight=self.in_flight,
        )
        return MCPEndpoint(
            stack,
            modern=modern,
            path=path,
            pinned=pinned,
            store=self.store,
            live=self.live,
            events=self.events,
            ends=self.ends,
            max_sessions=self.settings.sessions.max_sessions,
            keepalive=keepalive,
            max_depth=self.settings.http.max_json_depth,
            in_flight=self.in_flight,
            bus=self.bus,
        )

    def _gateway_tools(self, own: OwnAnswers, router: Router, path: str) -> ToolsWiring:
        """The seed's gateway tools (/mcp only), inside every layer that judges a call (their docs)."""
        cached = self.caching.wrap(own, router, path)  # innermost: keeps what upstreams answered
        return with_gateway_tools(
            cached, router, self.settings, self.tenancy.project_servers, cache=self.caching
        )

    async def _session_channel(self, session_id: str) -> SessionChannel:
        record = await self.store.get(session_id)
        capabilities = record.client_capabilities if record is not None else {}
        return SessionChannel(self.live, session_id, capabilities)

    async def start(self) -> None:
        self.audit_sink.open(start_telemetry(self.settings))
        await self.tenancy.start()
        await self.rate_limiting.start()
        self.reaper.start()
        if self.plugins is not None:
            await self.plugins.initialize()  # fails closed: no plugin, no gateway
        eager = [s for s in self.supervisors.values() if s.spec.start_eagerly and not s.spec.per_client]
        started = await asyncio.gather(*(s.connection() for s in eager), return_exceptions=True)
        for supervisor, outcome in zip(eager, started, strict=True):
            if isinstance(outcome, UpstreamError):
                log.error("%s", eager_start_failure(supervisor.name, outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
        for router in self.routers.values():
            await router.prime()
        self._janitor = asyncio.create_task(self._expire_sessions(), name="session-janitor")
        if self.bus is not None and self.replicas is not None:
            self.bus.listen(self.replicas.heard)
        if self.ledger is not None:
            self.ledger.watch_resumed(self.parked.resumed_elsewhere)
            shared = None if self.settings.sessions.request_state_key else await self.ledger.shared_key()
            if shared is not None:
                self.request_states.use_key(shared)
        # Everything built so far (modules, settings, catalogs) lives as long as the process:
        # move it out of the collector's sight, so that a full collection scans only what
        # requests allocate (~70 ms -> <1 ms per gen-2 pass, measured by bench).
        gc.collect()
        gc.freeze()

    async def drain(self, grace: float) -> None:
        """Before the server stops: let calls in flight finish for ``grace`` seconds, then
        answer the rest with a JSON-RPC error saying the gateway is shutting down."""
        await self.in_flight.drain(grace)

    async def stop(self) -> None:
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        for session_id in self.live.ids():
            await self.ends.end(session_id, EndReason.SHUTDOWN)
        self.parked.close()
        if self.ledger is not None:
            await self.ledger.close()
        if self.bus is not None:
            await self.bus.close()
        await self.unsolicited.close()
        await self.caching.close()
        await self.readiness.close()
        await asyncio.gather(*(s.close() for s in self.supervisors.values()))
        if self.plugins is not None:
            await self.plugins.shutdown()
        await self.rate_limiting.close()
        await self.tenancy.close()
        await self.reaper.stop()
        await self.tracing.close()
        self.audit_sink.close()
        await self.store.close()
        await close_event_store(self.events)

    async def _expire_sessions(self) -> None:
        interval = min(60.0, self.settings.sessions.idle_timeout / 2)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(SessionStoreUnavailable):  # said once by the store; next pass
                await self.expire_idle_sessions()

    async def expire_idle_sessions(self) -> int:
        """One pass of the janitor: end every session idle past the limit; how many ended."""
        expired = await self.store.expire_idle()
        for session_id in expired:
            await self.ends.end(session_id, EndReason.IDLE)
        return len(expired)

    def served_tools(self) -> dict[str, list[Served] | None]:
        """Each server's last tools list as it sent it (None: not listed yet), for the admin API."""
        catalog = self.routers["/mcp"].lists.catalogs[TOOLS]
        return {name: catalog.served(name) for name in self.supervisors}

    def health(self) -> tuple[dict[str, Any], int]:
        """/healthz: the truth about each server, and overall (gateway/readiness.py)."""
        return health(self.supervisors)

    def asgi(self) -> ASGIApp:
        """The whole app: HTTP tier around a dispatch to the endpoints, Starlette for the rest
        (gateway/http_app.py)."""
        return gateway_asgi(self)

    def retrace(self, tracing: Tracing | Untraced) -> None:
        """Trace with ``tracing`` from now on (a reload changed ``[telemetry.traces]``): the HTTP
        tier here; the MCP tier when the endpoints are rebuilt."""
        self.tracing = tracing
        for switch in self.http_tiers:
            switch.retrace(tracing)


def session_store(settings: Settings, on_expired: Callable[[str], Awaitable[None]]) -> SessionStore:
    """Session records in Redis when replicas share them (``[sessions] store``), else here."""
    idle = settings.sessions.idle_timeout
    if settings.shared_sessions:
        url = settings.redis.connect_url
        assert url is not None
        return RedisSessionStore(url, prefix=settings.redis.prefix, idle_timeout=idle, on_expired=on_expired)
    return InMemorySessionStore(idle_timeout=idle, on_expired=on_expired)
