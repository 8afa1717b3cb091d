"""Prometheus metrics: the registry, the ``/metrics`` route, and what is read at scrape time.

State the gateway already keeps (upstream states and restarts, live sessions and streams, calls
in flight, MRTR calls waiting for their retry) is read by a collector when Prometheus scrapes, so
it costs the hot path nothing. Only what has no state of its own is counted as it happens: each
request (:class:`~middleware.telemetry.metrics.CallMetrics`), each plugin verdict (the
executor's ``on_verdict``), each cache lookup (:attr:`GatewayMetrics.cache`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sized
from typing import Any, Final, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from starlette.routing import Route

from gateway import __version__
from gateway.settings.telemetry_metrics import MetricsSettings
from middleware.plugins.manager import PluginManager
from middleware.plugins.models import PluginResult
from middleware.plugins.runs import AUDIT_AS
from middleware.protocol import MCPApp
from middleware.protocol.http import ASGIApp, ASGIReceive, ASGIScope, ASGISend
from middleware.telemetry.metrics import CacheCounters, CallMetrics
from middleware.telemetry.metrics_store import Counts, PrometheusCacheCounters, VerdictCounter
from upstream.pool.supervisor import Supervisor
from upstream.routing.owners import NameOwners

UPSTREAM_STATES: Final = ("running", "starting", "restarting", "failed", "not started")
"""Every state a supervisor reports: each gets a sample (0 or 1), so alerts see a 0 too."""


class _NoCounts:
    """:class:`CacheCounters` when metrics are off: nothing to pay."""

    def hit(self, cache: str) -> None:
        pass

    def miss(self, cache: str) -> None:
        pass


class _Live(Protocol):
    def ids(self) -> list[str]: ...

    def existing(self, session_id: str) -> Any: ...


class GatewayState(Protocol):
    """What the collector reads of the gateway (the Gateway itself, without importing it)."""

    @property
    def supervisors(self) -> dict[str, Supervisor]: ...

    @property
    def live(self) -> _Live: ...

    @property
    def in_flight(self) -> Sized: ...

    @property
    def parked(self) -> Sized: ...


class StateCollector:
    """Gauges and counters read from the gateway's own state when Prometheus scrapes."""

    def __init__(self, gateway: GatewayState) -> None:
        self.gateway = gateway

    def describe(self) -> Iterable[Metric]:
        return []  # not known before the first scrape: registering must not read live state

    def collect(self) -> Iterator[Metric]:
        gateway = self.gateway
        info = InfoMetricFamily("portcullis_build", "The gateway's version")
        info.add_metric([], {"version": __version__})
        yield info
        yield from _upstreams(gateway.supervisors)
        sessions, streams = _sessions(gateway.live)
        yield GaugeMetricFamily("portcullis_sessions_live", "Gateway sessions with live state here", sessions)
        yield GaugeMetricFamily("portcullis_streams_open", "Open GET and listen streams", streams)
        yield GaugeMetricFamily(
            "portcullis_calls_in_flight", "Calls being answered now", len(gateway.in_flight)
        )
        yield GaugeMetricFamily(
            "portcullis_mrtr_parked_calls",
            "2026-07-28 calls waiting for their client's retry (input_required)",
            len(gateway.parked),
        )


def _upstreams(supervisors: Mapping[str, Supervisor]) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        "portcullis_upstream_state", "1 for the state each upstream server is in", labels=["server", "state"]
    )
    restarts = CounterMetricFamily(
        "portcullis_upstream_restarts",
        "Upstream server starts after the first (per-client servers: a client session reopened)",
        labels=["server"],
    )
    for name, supervisor in supervisors.items():
        now = supervisor.status().state
        for known in UPSTREAM_STATES:
            state.add_metric([name, known.replace(" ", "_")], 1.0 if now == known else 0.0)
        restarts.add_metric([name], supervisor.restarts)
    yield state
    yield restarts


def _sessions(live: _Live) -> tuple[int, int]:
    """(live sessions, of which with an open stream)."""
    ids = live.ids()
    streams = 0
    for session_id in ids:
        session = live.existing(session_id)
        if session is not None and session.stream_attached:
            streams += 1
    return len(ids), streams


CHANGES: Final = {"redact": "redacted", "flag": "flagged"}
"""The ``action`` of a change a guardrail named (middleware/plugins/runs.py); else ``modified``."""


def verdict_of(blocks: bool, result: PluginResult[Any]) -> str:
    """A plugin's decision in one word, for the ``action`` label."""
    if not result.continue_processing:
        if result.violation is not None and result.violation.code == "PLUGIN_ERROR":
            return "error"
        return "blocked" if blocks else "warned"
    if result.modified_payload is None:
        return "allowed"
    said = (result.metadata or {}).get(AUDIT_AS)  # a guardrail says how it changed the payload
    return CHANGES.get(said, "modified") if isinstance(said, str) else "modified"


class GatewayMetrics:
    """One registry per gateway (tests run several in a process); nothing at all when off."""

    def __init__(self, settings: MetricsSettings, *, plugins: PluginManager | None = None) -> None:
        self.settings = settings
        self.enabled = settings.enabled
        self.registry = CollectorRegistry(auto_describe=False)
        self.counts = Counts() if self.enabled else None
        self.cache: CacheCounters = PrometheusCacheCounters(self.counts) if self.counts else _NoCounts()
        """What the caches call on each lookup (``hit(name)`` / ``miss(name)``)."""
        self.endpoint = MetricsEndpoint(self.registry)
        self.count_verdicts(plugins)

    def wrap(self, app: MCPApp, router: NameOwners) -> MCPApp:
        """``app`` counted and timed per request, tool names resolved by ``router``'s catalog."""
        if self.counts is None:
            return app

        def tool_owner(name: str) -> tuple[str, str] | None:
            owner = router.listed_owner("tools/list", name)
            return None if owner is None else (owner.server, owner.name)

        return CallMetrics(app, counts=self.counts, tool_owner=tool_owner, max_tools=self.settings.max_tools)

    def count_verdicts(self, plugins: PluginManager | None) -> None:
        if self.counts is None or plugins is None:
            return
        counter = VerdictCounter(self.counts)

        def on_verdict(plugin: str, hook: str, blocks: bool, result: PluginResult[Any]) -> None:
            counter(plugin, hook, verdict_of(blocks, result))

        plugins.executor.on_verdict = on_verdict

    def watch(self, gateway: GatewayState) -> None:
        """Read ``gateway``'s state, and the process's, at each scrape."""
        if self.counts is None:
            return
        caching = getattr(gateway, "caching", None)  # the caches keep their own counts
        self.counts.cache_source = getattr(caching, "counts", None)
        self.registry.register(self.counts)
        self.registry.register(StateCollector(gateway))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def routes(self) -> list[Route]:
        if not self.enabled:
            return []
        return [Route(self.settings.path, self.endpoint, methods=["GET", "HEAD"])]

    def public(self, app: ASGIApp) -> ASGIApp:
        """``app`` (the authenticated tier) with ``/metrics`` answered in front of it when public."""
        if not (self.enabled and self.settings.public):
            return app
        path = self.settings.path

        async def serve_first(scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
            if scope["type"] == "http" and scope["path"].rstrip("/") == path and scope["method"] == "GET":
                await self.endpoint(scope, receive, send)
            else:
                await app(scope, receive, send)

        return serve_first


class MetricsEndpoint:
    """The exposition of one registry, as a plain ASGI app (Starlette mounts instances as such)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        body = generate_latest(self.registry)
        length = str(len(body)).encode()
        headers = [(b"content-type", CONTENT_TYPE_LATEST.encode()), (b"content-length", length)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
