"""What traces cost per call, in process (no network), against the same app untraced.

- the MCP tier's span middleware around an app that makes one upstream request (through the
  transports' hook, answered as the upstream session does) and answers at once: a call
  sampled, one under a client's unsampled trace, one starting an unsampled trace;
- the HTTP tier (the sampling decision in front of OpenTelemetry's ASGI instrumentation) around
  an app that answers at once, sampled and not;
- both tiers together, as a gateway runs them, at several ``sample_ratio`` values: the figure the
  issue's budget (telemetry on, metrics plus sampled traces, <= 30 us per call) is about.

Spans go through the real batch processor to an exporter that drops them. Run
``.venv/bin/python -m bench.tracing`` (CPU time per call, best of several rounds).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

from middleware.protocol import RESPONSE, UPSTREAM_TRACE, result_message
from middleware.protocol.testing import make_test_scope
from middleware.telemetry.sampling import Sampling
from middleware.telemetry.tracing import TraceMessages
from middleware.telemetry.tracing_http import SampleFirst
from upstream.transports.trace_context import traced

RESULT = {"content": [{"type": "text", "text": "hello"}], "isError": False}
UPSTREAM = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {}}}
ANSWER = result_message(1, RESULT)
SAMPLED = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
NOT_SAMPLED = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


def http_scope(traceparent: bytes | None = None) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json"), (b"accept", b"application/json")]
    if traceparent is not None:
        headers.append((b"traceparent", traceparent))
    return {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "headers": headers,
        "query_string": b"",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
    }


class Dropped(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def answer(scope: Any, receive: Any, send: Any) -> None:
    trace = UPSTREAM_TRACE.get()
    if trace is not None:  # as a transport, then the upstream session, do on every request
        traced("s1", "stdio", UPSTREAM, None)
        trace.answered(1, ANSWER)
    await send({"type": RESPONSE, "message": result_message(scope["id"], RESULT)})


async def http_answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def sink(event: Any) -> None:
    return None


def provider() -> TracerProvider:
    """As the gateway makes it: the SDK records what the gateway's own decision lets through."""
    traced_provider = TracerProvider(sampler=ParentBased(ALWAYS_ON))
    traced_provider.add_span_processor(BatchSpanProcessor(Dropped(), max_queue_size=1 << 16))
    return traced_provider


def http_tier(app: Any, traced_provider: TracerProvider, ratio: float) -> SampleFirst:
    instrumented = OpenTelemetryMiddleware(
        app, tracer_provider=traced_provider, exclude_spans=["receive", "send"]
    )
    return SampleFirst(app, instrumented, Sampling(ratio), "/healthz$")


async def best_per_call(app: Any, scope: Any, calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            await app(scope, None, sink)
        best = min(best, (time.process_time() - started) / calls)
    return best * 1e6


async def mcp_figures(traced_provider: TracerProvider, calls: int, rounds: int) -> dict[str, float]:
    scope = make_test_scope("tools/call", {"name": "s1__echo", "arguments": {"text": "hello"}})
    base = await best_per_call(answer, scope, calls, rounds)
    tracer = traced_provider.get_tracer("bench")
    results = {"mcp: off (baseline, absolute)": base}
    for label, ratio, meta in (
        ("mcp: sampled", 1.0, None),
        ("mcp: client's trace not sampled", 1.0, NOT_SAMPLED),
        ("mcp: new trace not sampled", 0.0, None),
    ):
        call = (
            scope
            if meta is None
            else {**scope, "params": {**scope["params"], "_meta": {"traceparent": meta.decode()}}}
        )
        app = TraceMessages(answer, tracer=tracer, sampling=Sampling(ratio))
        results[label] = await best_per_call(app, call, calls, rounds) - base
    return results


async def http_figures(traced_provider: TracerProvider, calls: int, rounds: int) -> dict[str, float]:
    base = await best_per_call(http_answer, http_scope(), calls, rounds)
    results = {"http: off (baseline, absolute)": base}
    for label, ratio, header in (
        ("http: sampled", 1.0, None),
        ("http: client's trace not sampled", 1.0, NOT_SAMPLED),
        ("http: new trace not sampled", 0.0, None),
    ):
        app = http_tier(http_answer, traced_provider, ratio)
        results[label] = await best_per_call(app, http_scope(header), calls, rounds) - base
    return results


async def both_tiers(traced_provider: TracerProvider, calls: int, rounds: int) -> dict[str, float]:
    """The HTTP tier around the MCP tier around one upstream request, per ``sample_ratio``."""
    scope = make_test_scope("tools/call", {"name": "s1__echo", "arguments": {"text": "hello"}})
    tracer = traced_provider.get_tracer("bench")

    def through(mcp: Any) -> Any:
        async def app(http: Any, receive: Any, send: Any) -> None:
            await mcp(scope, receive, sink)
            await http_answer(http, receive, send)

        return app

    base = await best_per_call(through(answer), http_scope(), calls, rounds)
    results = {}
    for ratio in (1.0, 0.1, 0.01, 0.0):
        sampling = Sampling(ratio)
        app = through(TraceMessages(answer, tracer=tracer, sampling=sampling))
        gateway = SampleFirst(
            app,
            OpenTelemetryMiddleware(app, tracer_provider=traced_provider, exclude_spans=["receive", "send"]),
            sampling,
            "/healthz$",
        )
        results[f"both tiers, sample_ratio {ratio:g}"] = (
            await best_per_call(gateway, http_scope(), calls, rounds) - base
        )
    return results


async def figures(calls: int = 2000, rounds: int = 15) -> dict[str, float]:
    """Microseconds per call: each baseline, and what each traced way adds to it."""
    traced_provider = provider()
    try:
        return {
            **await mcp_figures(traced_provider, calls, rounds),
            **await http_figures(traced_provider, calls, rounds),
            **await both_tiers(traced_provider, calls, rounds),
        }
    finally:
        traced_provider.shutdown()


if __name__ == "__main__":
    for name, value in asyncio.run(figures()).items():
        print(f"{name:36s} {value:7.2f} us")
