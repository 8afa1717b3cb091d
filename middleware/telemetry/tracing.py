"""One OpenTelemetry span per sampled JSON-RPC message, with a child span per upstream request
it makes and per middleware or plugin that acts on it (:mod:`~middleware.telemetry.tracing_steps`).

Attribute names follow the OpenTelemetry semantic conventions for MCP (``mcp.*``, with the GenAI
``gen_ai.tool.name``/``gen_ai.prompt.name``/``gen_ai.operation.name`` and ``jsonrpc.request.id``),
status from the outcome: a JSON-RPC error sets ``rpc.response.status_code`` and ``error.type``
(the fault: client, policy, upstream, gateway), a tool result with ``isError`` sets
``error.type=tool_error``. Argument values, results and error messages never become attributes:
they are where secrets and personal data live.

The parent is the client's ``params._meta.traceparent`` when it sent one (MCP's own place for it),
else whatever span is current: the HTTP tier's, which took the client's ``traceparent`` header.
Whether a call is recorded is decided before any span is made (:mod:`~middleware.telemetry.sampling`):
one that is not only carries its trace context on to the upstream.
This module is imported only when traces are on (the composition root decides).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import (
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from middleware.protocol import (
    RESPONSE,
    STEP_TRACE,
    TARGET_SERVER,
    UPSTREAM_TRACE,
    Event,
    MCPApp,
    Receive,
    Scope,
    Send,
)
from middleware.telemetry.sampling import (
    NOT_SAMPLED_HERE,
    CarryContext,
    Sampling,
    unsampled_trace,
)
from middleware.telemetry.tracing_steps import StepSpans
from middleware.telemetry.tracing_upstream import NAME_CHARS, NAMED, UpstreamSpans, carrier_of, resource_uri

PROPAGATOR: Final = TraceContextTextMapPropagator()
"""W3C trace context, whatever global propagators the process has: it is what MCP peers read."""
SERVER_ATTRIBUTE: Final = "portcullis.server.name"
"""The upstream server the message was routed to (the conventions name none for a gateway)."""
_SESSION_CHARS: Final = 8
"""As the access log shows a session: enough to correlate, not the whole handle."""


class TraceMessages:
    """The MCP-tier middleware: outermost in the MCP tier, so its span covers every layer."""

    def __init__(self, app: MCPApp, *, tracer: Tracer, sampling: Sampling) -> None:
        self.app = app
        self.tracer = tracer
        self.sampling = sampling

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parent = client_context(scope["params"])
        carrier = NOT_SAMPLED_HERE.get() if parent is None else None
        if carrier is None:  # no decision yet (a client's own _meta, or no HTTP tier around)
            current = get_current_span(parent).get_span_context()
            if self.sampling.decide(current):
                await self._traced(scope, receive, send, parent)
                return
            carrier = carrier_of(current) if current.is_valid else unsampled_trace()
        hook_token = UPSTREAM_TRACE.set(CarryContext(carrier))
        try:
            await self.app(scope, receive, send)
        finally:
            UPSTREAM_TRACE.reset(hook_token)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, parent: Context | None) -> None:
        span = self.tracer.start_span(
            span_name(scope), context=parent, kind=SpanKind.SERVER, attributes=request_attributes(scope)
        )
        upstream = UpstreamSpans(self.tracer, span)
        span_context = set_span_in_context(span, parent)
        context_token = otel_context.attach(span_context)
        hook_token = UPSTREAM_TRACE.set(upstream)
        steps_token = STEP_TRACE.set(StepSpans(self.tracer, span_context))

        async def traced_send(event: Event) -> None:
            if event["type"] == RESPONSE:
                upstream.end_all()
                record_outcome(span, event["message"])
            await send(event)

        try:
            await self.app(scope, receive, traced_send)
        except asyncio.CancelledError:
            span.set_attribute("error.type", "cancelled")
            raise
        except Exception as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR))
            raise
        finally:
            STEP_TRACE.reset(steps_token)
            UPSTREAM_TRACE.reset(hook_token)
            otel_context.detach(context_token)
            upstream.close()
            server = scope["state"].get(TARGET_SERVER) or scope["server"]
            if server:
                span.set_attribute(SERVER_ATTRIBUTE, server)
            span.end()


def client_context(params: dict[str, Any]) -> Context | None:
    """The context the client's ``_meta.traceparent`` names; None (the current one) without."""
    meta = params.get("_meta")
    if not isinstance(meta, dict):
        return None
    traceparent = meta.get("traceparent")
    if not isinstance(traceparent, str):
        return None
    carrier = {"traceparent": traceparent}
    tracestate = meta.get("tracestate")
    if isinstance(tracestate, str):
        carrier["tracestate"] = tracestate
    return PROPAGATOR.extract(carrier)


def target_of(scope: Scope) -> str | None:
    """The tool or prompt the message names (a low-cardinality span name part), else None."""
    if scope["method"] not in NAMED:
        return None
    name = scope["params"].get("name")
    if not isinstance(name, str) or not name:
        return None
    return name[:NAME_CHARS]


def span_name(scope: Scope) -> str:
    """``{mcp.method.name} {target}``, as the conventions name an MCP span."""
    target = target_of(scope)
    return f"{scope['method']} {target}" if target else scope["method"]


def request_attributes(scope: Scope) -> dict[str, Any]:
    method = scope["method"]
    attributes: dict[str, Any] = {
        "mcp.method.name": method,
        "mcp.protocol.version": scope["protocol_version"],
    }
    if scope["id"] is not None:
        attributes["jsonrpc.request.id"] = str(scope["id"])
    session = scope["session_id"]
    if session:
        attributes["mcp.session.id"] = session[:_SESSION_CHARS]
    target = target_of(scope)
    if target:
        attributes[NAMED[method]] = target
        if method == "tools/call":
            attributes["gen_ai.operation.name"] = "execute_tool"
    uri = scope["params"].get("uri")
    if isinstance(uri, str) and uri:
        attributes["mcp.resource.uri"] = resource_uri(uri)
    return attributes


def record_outcome(span: Span, message: dict[str, Any]) -> None:
    """Status and ``error.type`` from the response: the fault of a JSON-RPC error, or
    ``tool_error`` for a tool result with ``isError`` (a failure that is not a JSON-RPC one)."""
    error = message.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        data = error.get("data")
        fault = data.get("fault") if isinstance(data, dict) else None
        span.set_attribute("rpc.response.status_code", str(code))
        span.set_attribute("error.type", fault if isinstance(fault, str) else str(code))
        span.set_status(Status(StatusCode.ERROR, f"JSON-RPC error {code}"))
        return
    result = message.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        span.set_attribute("error.type", "tool_error")
        span.set_status(Status(StatusCode.ERROR, "tool_error"))
