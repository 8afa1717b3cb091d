"""Traces, composed from ``[telemetry.traces]``: tracer provider, sampler, OTLP/HTTP exporter.

Free when off: :func:`tracing_for` then gives :data:`UNTRACED`, which wraps nothing, and the
OpenTelemetry SDK is never imported (its imports below sit inside the class that needs them).
Each gateway has its own provider, never the process-global one: two gateways in one process
stay apart.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final, cast

from gateway import __version__
from gateway.settings import SettingsError
from gateway.settings.telemetry_traces import TracesSettings
from middleware.protocol import MCPApp
from middleware.protocol.http import ASGIApp
from upstream.pool.credential_refs import SecretMissing, resolve_all

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span

EXCLUDED_PATHS: Final = "/healthz$,/readyz$,/metrics$"
"""Probes and scrapes every few seconds would drown the traces that matter (patterns searched
in the URL without its query: anchored, so that a server named ``metrics-db`` keeps its spans)."""


class Untraced:
    """Traces off: every wrapper gives back what it was given."""

    def mcp(self, stack: MCPApp) -> MCPApp:
        return stack

    def http(self, app: ASGIApp) -> ASGIApp:
        return app

    async def close(self) -> None:
        return None


UNTRACED: Final = Untraced()


class Tracing:
    """The tracer provider of one gateway, and the two places it wraps."""

    def __init__(self, settings: TracesSettings) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

        from middleware.telemetry.sampling import Sampling

        try:
            headers = resolve_all(settings.headers, "telemetry.traces.headers", header=True)
        except SecretMissing as exc:
            raise SettingsError("settings", [exc.detail]) from None
        exporter = OTLPSpanExporter(
            endpoint=settings.endpoint, headers=headers, timeout=settings.export_timeout
        )
        resource = Resource.create({"service.name": settings.service_name, "service.version": __version__})
        # The gateway decides before the SDK is asked (middleware/telemetry/sampling.py): the
        # client's sampled flag for its own traces, the ratio for new ones; the SDK records the rest.
        self.sampling = Sampling(settings.sample_ratio)
        sampler = ParentBased(ALWAYS_ON)
        self.provider: TracerProvider = TracerProvider(resource=resource, sampler=sampler)
        timeout_ms = settings.export_timeout * 1000
        self.provider.add_span_processor(BatchSpanProcessor(exporter, export_timeout_millis=timeout_ms))
        self.tracer = self.provider.get_tracer("portcullis", __version__)

    def mcp(self, stack: MCPApp) -> MCPApp:
        """The MCP-tier stack inside a span per JSON-RPC message."""
        from middleware.telemetry.tracing import TraceMessages

        return TraceMessages(stack, tracer=self.tracer, sampling=self.sampling)

    def http(self, app: ASGIApp) -> ASGIApp:
        """``app`` with a span per sampled HTTP request; the others skip the instrumentation."""
        from middleware.telemetry.tracing_http import SampleFirst

        return SampleFirst(
            app, http_spans(app, self.provider), self.sampling, EXCLUDED_PATHS.replace(",", "|")
        )

    async def close(self) -> None:
        """Export what is left (within the export timeout), off the event loop."""
        await asyncio.to_thread(self.provider.shutdown)


def http_spans(app: ASGIApp, provider: TracerProvider) -> ASGIApp:
    """``app`` inside a server span per HTTP request (it takes the client's ``traceparent``
    header); no span per ASGI message, which would only add cost."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    traced = OpenTelemetryMiddleware(
        app,
        tracer_provider=provider,
        exclude_spans=["receive", "send"],
        excluded_urls=EXCLUDED_PATHS,
        server_request_hook=without_query,
    )
    return cast(ASGIApp, traced)


def without_query(span: Span, scope: dict[str, Any]) -> None:
    """The instrumentation records the whole URL, query included, and a query may carry a
    credential (``?api_key=``): keep the URL without it."""
    attributes = getattr(span, "attributes", None) or {}
    url = attributes.get("http.url")
    if isinstance(url, str) and "?" in url:
        span.set_attribute("http.url", url.split("?", 1)[0])
    if attributes.get("url.query"):
        span.set_attribute("url.query", "REDACTED")


def tracing_for(settings: TracesSettings) -> Tracing | Untraced:
    """What ``[telemetry.traces]`` asks for."""
    return Tracing(settings) if settings.enabled else UNTRACED
