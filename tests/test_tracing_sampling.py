"""Traces, in process: the sampling decision taken before OpenTelemetry is asked, the upstream
span that ends with the upstream's answer, and the steps of a traced call."""

from __future__ import annotations

import asyncio
from typing import Any

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.trace import SpanKind, StatusCode

from middleware.protocol import (
    RESPONSE,
    STEP_TRACE,
    UPSTREAM_TRACE,
    error_message,
    result_message,
    traced_step,
)
from middleware.protocol.testing import make_test_scope
from middleware.telemetry.sampling import Sampling
from middleware.telemetry.tracing_http import SampleFirst
from tests.test_tracing import messages, provider, sink
from upstream.transports.trace_context import traced

REQUEST = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "echo"}}
CLIENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"


def http_scope(traceparent: str | None = None, path: str = "/mcp") -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8787")]
    if traceparent is not None:
        headers.append((b"traceparent", traceparent.encode()))
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": headers,
        "query_string": b"",
        "scheme": "http",
        "server": ("127.0.0.1", 8787),
    }


def test_the_ratio_is_the_share_of_new_traces_recorded() -> None:
    assert not any(Sampling(0.0).new_trace() for _ in range(2000))
    assert all(Sampling(1.0).new_trace() for _ in range(2000))
    recorded = sum(Sampling(0.25).new_trace() for _ in range(20000))
    assert 4500 < recorded < 5500  # 25 % of 20,000, well outside chance


async def test_the_upstream_span_ends_when_the_upstream_answers() -> None:
    """Not when the call answers: what comes after (output guardrails, the client's side) is the
    message span's, and an upstream error marks the upstream span."""
    tracer_provider, exporter = provider()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        traced("s1", "stdio", REQUEST, None)
        hook = UPSTREAM_TRACE.get()
        assert hook is not None
        hook.answered(7, error_message(7, -32000, "upstream broke"))
        await asyncio.sleep(0.05)  # the gateway's own work after the upstream answered
        await send({"type": RESPONSE, "message": result_message(1, {"content": []})})

    await messages(app, tracer_provider)(make_test_scope("tools/call", {"name": "s1__echo"}), None, sink)
    upstream, message = exporter.get_finished_spans()
    assert upstream.kind is SpanKind.CLIENT and upstream.name == "tools/call echo"
    assert upstream.end_time is not None and message.end_time is not None
    assert message.end_time - upstream.end_time >= 40_000_000  # ns: the 50 ms were not the upstream's
    assert upstream.status.status_code is StatusCode.ERROR
    assert upstream.attributes is not None and upstream.attributes["error.type"] == "-32000"


async def test_a_step_is_a_child_span_of_a_traced_call_and_nothing_otherwise() -> None:
    tracer_provider, exporter = provider()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        traced_step("policy", {"portcullis.decision.verdict": "deny"})
        await send({"type": RESPONSE, "message": result_message(1, {})})

    await messages(app, tracer_provider)(make_test_scope("tools/call", {"name": "s1__x"}), None, sink)
    step, message = exporter.get_finished_spans()
    assert step.name == "policy" and step.kind is SpanKind.INTERNAL
    assert step.parent is not None and step.parent.span_id == message.context.span_id
    exporter.clear()
    await messages(app, tracer_provider, ratio=0.0)(
        make_test_scope("tools/call", {"name": "s1__x"}), None, sink
    )
    assert exporter.get_finished_spans() == ()
    assert STEP_TRACE.get() is None


async def test_an_unsampled_request_skips_the_instrumentation_yet_carries_its_trace() -> None:
    tracer_provider, exporter = provider()
    sent: list[Any] = []

    async def mcp(scope: Any, receive: Any, send: Any) -> None:
        sent.append(traced("s1", "streamable-http", REQUEST, None)[1])
        await send({"type": RESPONSE, "message": result_message(1, {})})

    traced_mcp = messages(mcp, tracer_provider, ratio=0.0)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await traced_mcp(make_test_scope("tools/call", {"name": "s1__echo"}), receive, sink)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    instrumented = OpenTelemetryMiddleware(
        app, tracer_provider=tracer_provider, exclude_spans=["receive", "send"]
    )
    gateway = SampleFirst(app, instrumented, Sampling(0.0), "/healthz$")
    await gateway(http_scope(f"{CLIENT}-00"), None, sink)
    await gateway(http_scope(), None, sink)
    assert exporter.get_finished_spans() == ()
    assert sent[0]["traceparent"] == f"{CLIENT}-00"  # the client's, passed on: nothing of ours recorded
    assert sent[1]["traceparent"].endswith("-00") and not sent[1]["traceparent"].startswith(CLIENT[:35])

    await gateway(http_scope(f"{CLIENT}-01"), None, sink)  # the client's flag decides
    spans = exporter.get_finished_spans()
    assert {span.kind for span in spans} == {SpanKind.SERVER, SpanKind.CLIENT}
    assert all(format(span.context.trace_id, "032x") == CLIENT[3:35] for span in spans)
    assert sent[2]["traceparent"].startswith(CLIENT[:36]) and sent[2]["traceparent"].endswith("-01")

    exporter.clear()
    probe = SampleFirst(app, instrumented, Sampling(1.0), "/healthz$")
    await probe(http_scope(path="/healthz"), None, sink)  # probes are never traced
    assert exporter.get_finished_spans() == ()
