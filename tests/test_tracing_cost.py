"""What traces cost per call, in process (no network): the MCP-tier span middleware around an app
that makes one upstream request (through the transports' hook) and answers at once, sampled and
not, against the same app untraced; and the HTTP tier's span middleware around an app that
answers at once. Spans go through the real batch processor to an exporter that drops them.

Run ``.venv/bin/python -m tests.test_tracing_cost`` for the figures (CPU time, best of several
rounds); the issue's budget for telemetry on (metrics plus sampled traces) is <= 30 us per call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from middleware.protocol import RESPONSE, UPSTREAM_TRACE, result_message
from middleware.protocol.testing import make_test_scope
from middleware.telemetry.tracing import TraceMessages
from upstream.transports.trace_context import traced

RESULT = {"content": [{"type": "text", "text": "hello"}], "isError": False}
UPSTREAM = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {}}}
HTTP_SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/mcp",
    "headers": [],
    "query_string": b"",
    "scheme": "http",
}


class Dropped(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def answer(scope: Any, receive: Any, send: Any) -> None:
    if UPSTREAM_TRACE.get() is not None:  # as a transport does on every request
        traced("s1", "stdio", UPSTREAM, None)
    await send({"type": RESPONSE, "message": result_message(scope["id"], RESULT)})


async def http_answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def sink(event: Any) -> None:
    return None


def provider(ratio: float) -> TracerProvider:
    traced_provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
    traced_provider.add_span_processor(BatchSpanProcessor(Dropped(), max_queue_size=1 << 16))
    return traced_provider


async def best_per_call(app: Any, scope: Any, calls: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            await app(scope, None, sink)
        best = min(best, (time.process_time() - started) / calls)
    return best * 1e6


async def figures(calls: int = 2000, rounds: int = 15) -> dict[str, float]:
    """Microseconds per call: the untraced baseline, and what each traced way adds to it."""
    scope = make_test_scope("tools/call", {"name": "s1__echo", "arguments": {"text": "hello"}})
    sampled, unsampled = provider(1.0), provider(0.0)
    base = await best_per_call(answer, scope, calls, rounds)
    results = {"off (baseline)": base}
    for label, traced_provider in (("mcp span, sampled", sampled), ("mcp span, not sampled", unsampled)):
        app = TraceMessages(answer, tracer=traced_provider.get_tracer("bench"))
        results[label] = await best_per_call(app, scope, calls, rounds) - base
    http_base = await best_per_call(http_answer, HTTP_SCOPE, calls, rounds)
    http_traced = OpenTelemetryMiddleware(
        http_answer, tracer_provider=sampled, exclude_spans=["receive", "send"]
    )
    results["http span, sampled"] = await best_per_call(http_traced, HTTP_SCOPE, calls, rounds) - http_base
    sampled.shutdown()
    unsampled.shutdown()
    return results


async def test_a_trace_not_sampled_costs_less_than_one_sampled() -> None:
    """The absolute figures belong to a quiet machine (run the module); what holds anywhere is
    their order: a trace not sampled skips attributes and export."""
    results = await figures(calls=300, rounds=5)
    assert results["mcp span, not sampled"] < results["mcp span, sampled"], results


if __name__ == "__main__":
    for name, value in asyncio.run(figures()).items():
        print(f"{name:28s} {value:7.2f} us")
