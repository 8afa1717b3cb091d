"""The child span of each upstream request a traced call makes, and the context it carries.

Opened by the transport, through :data:`middleware.protocol.UPSTREAM_TRACE`, as the request
leaves; ended by the upstream session when the answer comes back (its ``answered``), so the
span is the upstream's own time; what is still open when the call answers or ends is ended
then. A fan-out (a merged list) shows one span per server it asked.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.trace import Span, SpanContext, SpanKind, Status, StatusCode, Tracer, set_span_in_context

from middleware.protocol import META_PROTOCOL_VERSION, Message, is_modern

Carrier = dict[str, str]
"""W3C trace-context headers: ``traceparent``, and ``tracestate`` when there is one."""
NETWORK_TRANSPORT: Final = {"stdio": "pipe"}
"""``network.transport`` by our transport name; every HTTP one is ``tcp``."""
NAMED: Final = {"tools/call": "gen_ai.tool.name", "prompts/get": "gen_ai.prompt.name"}
"""The methods whose target (a tool, a prompt) names the span, and the attribute it goes in."""
NAME_CHARS: Final = 200


class UpstreamSpans:
    """The upstream spans of one call (tasks it spawns share this object), by request id."""

    def __init__(self, tracer: Tracer, parent: Span) -> None:
        self.tracer = tracer
        self.parent = set_span_in_context(parent)
        self.open_spans: dict[Any, Span] = {}
        self.closed = False

    def open(self, server: str, transport: str, message: Message) -> tuple[Message, dict[str, str]]:
        """Start the span of ``message`` to ``server``; the message and headers to send. A
        task the call started may outlive it (an upstream session's reader): once the call is
        over, what such a task sends is not the call's, and goes untraced."""
        if self.closed:
            return message, {}
        method = str(message.get("method"))
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        name = params.get("name") if method in NAMED else None
        target = name[:NAME_CHARS] if isinstance(name, str) and name else None
        span = self.tracer.start_span(
            f"{method} {target}" if target else method,
            context=self.parent,
            kind=SpanKind.CLIENT,
            attributes=upstream_attributes(server, transport, message, method, target),
        )
        self.open_spans[message.get("id")] = span
        carrier = carrier_of(span.get_span_context())
        return with_meta(message, params, transport, carrier), carrier

    def answered(self, request_id: Any, answer: Message | None) -> None:
        span = self.open_spans.pop(request_id, None)
        if span is None:
            return
        error = answer.get("error") if answer is not None else None
        if answer is None:
            span.set_attribute("error.type", "no_answer")
        elif isinstance(error, dict):
            span.set_attribute("rpc.response.status_code", str(error.get("code")))
            span.set_attribute("error.type", str(error.get("code")))
            span.set_status(Status(StatusCode.ERROR, f"JSON-RPC error {error.get('code')}"))
        span.end()

    def end_all(self) -> None:
        spans, self.open_spans = self.open_spans, {}
        for span in spans.values():
            span.end()

    def close(self) -> None:
        """The call is over: end what is open, and open nothing more."""
        self.closed = True
        self.end_all()


def carrier_of(context: SpanContext) -> Carrier:
    """The headers that pass ``context`` on (formatted here: the propagator's general path costs
    several µs more for the same two strings)."""
    traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    if context.trace_state:
        return {"traceparent": traceparent, "tracestate": context.trace_state.to_header()}
    return {"traceparent": traceparent}


def upstream_attributes(
    server: str, transport: str, message: Message, method: str, target: str | None
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "mcp.method.name": method,
        "jsonrpc.request.id": str(message.get("id")),
        "network.transport": NETWORK_TRANSPORT.get(transport, "tcp"),
        "portcullis.server.name": server,
        "portcullis.upstream.transport": transport,
    }
    if target is not None:
        attributes[NAMED[method]] = target
        if method == "tools/call":
            attributes["gen_ai.operation.name"] = "execute_tool"
    return attributes


def with_meta(message: Message, params: dict[str, Any], transport: str, carrier: dict[str, str]) -> Message:
    """``message`` with the trace context in ``params._meta`` where it belongs: over stdio (no
    headers), to a 2026-07-28 server, and where the client's own would otherwise travel on."""
    meta = params.get("_meta")
    meta = meta if isinstance(meta, dict) else {}
    modern = is_modern(meta.get(META_PROTOCOL_VERSION))
    if transport != "stdio" and not modern and "traceparent" not in meta:
        return message
    fresh = {key: value for key, value in meta.items() if key not in ("traceparent", "tracestate")}
    return {**message, "params": {**params, "_meta": {**fresh, **carrier}}}


def resource_uri(uri: str) -> str:
    """A resource URI without what may hold secrets: user info, query and fragment."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri.split("?", 1)[0].split("#", 1)[0][:NAME_CHARS]
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))[:NAME_CHARS]
