"""The HTTP tier's spans, for the requests that are sampled only.

OpenTelemetry's ASGI instrumentation gathers the request's attributes and starts a span (a
non-recording one when its sampler says no) on every request, about 100 µs here. In front of
it, :class:`SampleFirst` takes the decision (:mod:`~middleware.telemetry.sampling`): a request
that is sampled goes through the instrumentation; one that is not goes straight to the app with
its trace context (the client's, or a new unsampled one) in
:data:`~middleware.telemetry.sampling.NOT_SAMPLED_HERE`, which the MCP tier carries on to the
upstream.
"""

from __future__ import annotations

import re

from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    SpanContext,
    get_current_span,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from middleware.protocol.http import ASGIApp, ASGIReceive, ASGIScope, ASGISend
from middleware.telemetry.sampling import NOT_SAMPLED_HERE, Sampling, unsampled_trace
from middleware.telemetry.tracing_upstream import carrier_of

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate"})


class SampleFirst:
    """``instrumented`` (``app`` inside the instrumentation) for sampled requests, else ``app``."""

    def __init__(self, app: ASGIApp, instrumented: ASGIApp, sampling: Sampling, excluded: str) -> None:
        self.app = app
        self.instrumented = instrumented
        self.sampling = sampling
        self.excluded = re.compile(excluded)

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http" or self.excluded.search(scope["path"]):
            await self.app(scope, receive, send)
            return
        parent = client_parent(scope)
        if self.sampling.decide(parent):
            await self.instrumented(scope, receive, send)
            return
        token = NOT_SAMPLED_HERE.set(carrier_of(parent) if parent.is_valid else unsampled_trace())
        try:
            await self.app(scope, receive, send)
        finally:
            NOT_SAMPLED_HERE.reset(token)


def client_parent(scope: ASGIScope) -> SpanContext:
    """The span context of the request's ``traceparent`` header (invalid without a good one)."""
    carrier: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in _TRACE_HEADERS:
            carrier[name.decode()] = value.decode("latin-1")
    if "traceparent" not in carrier:
        return INVALID_SPAN_CONTEXT
    return get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
