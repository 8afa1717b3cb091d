"""Traces, in process: the MCP-tier span middleware, the upstream hook and the settings."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import ValidationError

from gateway.settings.telemetry_traces import TracesSettings
from gateway.tracing import UNTRACED, Tracing, tracing_for
from middleware.protocol import (
    META_PROTOCOL_VERSION,
    RESPONSE,
    TARGET_SERVER,
    UPSTREAM_TRACE,
    error_message,
    result_message,
)
from middleware.protocol.testing import make_test_scope
from middleware.telemetry.sampling import Sampling
from middleware.telemetry.tracing import TraceMessages
from middleware.telemetry.tracing_upstream import resource_uri
from upstream.transports.trace_context import traced

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
CLIENT_PARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
SECRET = "sk-live-0123456789abcdef"


def provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    """As the gateway makes it: its own decision first, the SDK records what it lets through."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=ParentBased(ALWAYS_ON))
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider, exporter


def messages(app: Any, tracer_provider: TracerProvider, ratio: float = 1.0) -> TraceMessages:
    return TraceMessages(app, tracer=tracer_provider.get_tracer("t"), sampling=Sampling(ratio))


def upstream_app(answer: dict[str, Any], sent: list[Any], transport: str = "stdio") -> Any:
    """An inner app that sends one request upstream (through the transports' hook) and answers."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["state"][TARGET_SERVER] = "s1"
        params = {"name": "echo", "arguments": {"text": SECRET}}
        request = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}
        sent.append(traced("s1", transport, request, {"Mcp-Param-X": "1"}))
        await send({"type": RESPONSE, "message": answer})

    return app


async def sink(event: Any) -> None:
    return None


def attribute_values(spans: tuple[ReadableSpan, ...]) -> str:
    return repr([dict(span.attributes or {}) for span in spans])


async def test_a_call_makes_a_server_span_and_a_client_span_per_upstream_request() -> None:
    tracer_provider, exporter = provider()
    sent: list[Any] = []
    answer = result_message(1, {"content": [], "isError": False})
    app = messages(upstream_app(answer, sent), tracer_provider)
    params = {"name": "s1__echo", "arguments": {"text": SECRET}, "_meta": {"traceparent": CLIENT_PARENT}}
    await app(make_test_scope("tools/call", params, session_id="abcdef0123456789"), None, sink)

    upstream_span, message_span = exporter.get_finished_spans()
    assert message_span.name == "tools/call s1__echo"
    assert message_span.kind is SpanKind.SERVER
    assert format(message_span.context.trace_id, "032x") == CLIENT_TRACE
    assert message_span.parent is not None and format(message_span.parent.span_id, "016x") == CLIENT_SPAN
    assert dict(message_span.attributes or {}) == {
        "mcp.method.name": "tools/call",
        "mcp.protocol.version": "2025-11-25",
        "jsonrpc.request.id": "1",
        "mcp.session.id": "abcdef01",
        "gen_ai.tool.name": "s1__echo",
        "gen_ai.operation.name": "execute_tool",
        "portcullis.server.name": "s1",
    }
    assert message_span.status.status_code is StatusCode.UNSET
    assert upstream_span.name == "tools/call echo"
    assert upstream_span.kind is SpanKind.CLIENT
    assert upstream_span.parent is not None and upstream_span.parent.span_id == message_span.context.span_id
    assert upstream_span.attributes is not None
    assert upstream_span.attributes["network.transport"] == "pipe"
    assert upstream_span.attributes["portcullis.server.name"] == "s1"
    assert SECRET not in attribute_values(exporter.get_finished_spans())

    # Over stdio the context travels in _meta (the client's replaced by ours), with the headers kept.
    (message, headers) = sent[0]
    upstream_parent = f"00-{CLIENT_TRACE}-{format(upstream_span.context.span_id, '016x')}-01"
    assert message["params"]["_meta"]["traceparent"] == upstream_parent
    assert headers["traceparent"] == upstream_parent and headers["Mcp-Param-X"] == "1"


async def test_http_upstreams_get_headers_and_modern_ones_meta_too() -> None:
    tracer_provider, _ = provider()
    sent: list[Any] = []
    answer = result_message(1, {"content": []})
    app = messages(upstream_app(answer, sent, "streamable-http"), tracer_provider)
    await app(make_test_scope("tools/call", {"name": "s1__echo"}), None, sink)
    message, headers = sent[0]
    assert "_meta" not in message["params"]
    assert headers["traceparent"].startswith("00-")

    modern = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/list",
        "params": {"_meta": {META_PROTOCOL_VERSION: "2026-07-28"}},
    }
    seen: list[Any] = []

    async def modern_app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(traced("h1", "streamable-http", modern, None))
        await send({"type": RESPONSE, "message": result_message(1, {"tools": []})})

    await messages(modern_app, tracer_provider)(make_test_scope("tools/list"), None, sink)
    message, headers = seen[0]
    assert message["params"]["_meta"]["traceparent"] == headers["traceparent"]
    assert message["params"]["_meta"][META_PROTOCOL_VERSION] == "2026-07-28"


@pytest.mark.parametrize(
    ("answer", "error_type", "code"),
    [
        (error_message(1, -32602, f"bad {SECRET}", fault="client"), "client", "-32602"),
        (error_message(1, -32000, "gone"), "-32000", "-32000"),
        (
            result_message(1, {"content": [{"type": "text", "text": SECRET}], "isError": True}),
            "tool_error",
            None,
        ),
    ],
)
async def test_the_outcome_sets_status_and_error_type(answer: Any, error_type: str, code: str | None) -> None:
    tracer_provider, exporter = provider()
    app = messages(upstream_app(answer, []), tracer_provider)
    await app(make_test_scope("tools/call", {"name": "s1__echo"}), None, sink)
    span = exporter.get_finished_spans()[-1]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == error_type
    assert span.attributes.get("rpc.response.status_code") == code
    assert SECRET not in attribute_values(exporter.get_finished_spans())
    assert SECRET not in str(span.status.description)


async def test_an_exception_is_an_error_span_and_the_hook_is_reset() -> None:
    tracer_provider, exporter = provider()

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await messages(broken, tracer_provider)(make_test_scope("ping"), None, sink)
    (span,) = exporter.get_finished_spans()
    assert span.name == "ping"
    assert span.attributes is not None and span.attributes["error.type"] == "RuntimeError"
    assert UPSTREAM_TRACE.get() is None


async def test_an_unsampled_trace_records_nothing_yet_propagates_its_context() -> None:
    tracer_provider, exporter = provider()
    sent: list[Any] = []
    app = messages(upstream_app(result_message(1, {}), sent), tracer_provider, ratio=0.0)
    await app(make_test_scope("tools/call", {"name": "s1__echo"}), None, sink)
    assert exporter.get_finished_spans() == ()
    assert int(sent[0][1]["traceparent"].rsplit("-", 1)[1], 16) & 1 == 0  # not sampled


def test_off_the_transports_send_what_they_were_given() -> None:
    message = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert traced("s1", "stdio", message, None) == (message, None)


def test_resource_uris_lose_what_may_hold_secrets() -> None:
    assert resource_uri("https://user:pw@example.com/a/b?token=x#f") == "https://example.com/a/b"
    assert resource_uri("file:///etc/app.conf") == "file:///etc/app.conf"


def test_settings_default_off_and_checked() -> None:
    assert TracesSettings().enabled is False
    assert tracing_for(TracesSettings()) is UNTRACED
    with pytest.raises(ValidationError, match="http:// or https://"):
        TracesSettings(endpoint="127.0.0.1:4318")
    with pytest.raises(ValidationError):
        TracesSettings(sample_ratio=1.5)
    with pytest.raises(ValidationError, match="not an HTTP header name"):
        TracesSettings(headers={"bad name": "x"})


def test_export_headers_may_name_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.settings import SettingsError

    monkeypatch.delenv("PORTCULLIS_TEST_OTLP_TOKEN", raising=False)
    settings = TracesSettings(enabled=True, headers={"authorization": "Bearer ${PORTCULLIS_TEST_OTLP_TOKEN}"})
    with pytest.raises(SettingsError, match="PORTCULLIS_TEST_OTLP_TOKEN"):
        Tracing(settings)


def test_off_nothing_of_the_sdk_is_imported() -> None:
    """Building a whole gateway with traces off loads none of the tracing SDK, exporter or
    instrumentation (redis imports OpenTelemetry's metrics SDK on its own when installed)."""
    tracing_modules = (
        "opentelemetry.sdk.trace",
        "opentelemetry.exporter",
        "opentelemetry.instrumentation",
        "middleware.telemetry.tracing",
    )
    code = (
        "import sys\n"
        "from gateway.app import Gateway\n"
        "from gateway.settings import Settings\n"
        "Gateway(Settings(), key_hashes={}).asgi()\n"
        f"loaded = [m for m in sys.modules if m.startswith({tracing_modules!r})]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)


async def test_the_http_span_keeps_no_query_string() -> None:
    from gateway.tracing import http_spans

    tracer_provider, exporter = provider()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "headers": [(b"host", b"127.0.0.1:8787"), (b"authorization", f"Bearer {SECRET}".encode())],
        "query_string": f"api_key={SECRET}".encode(),
        "scheme": "http",
        "server": ("127.0.0.1", 8787),
    }
    await http_spans(app, tracer_provider)(scope, None, sink)
    (span,) = exporter.get_finished_spans()
    assert span.name == "POST /mcp"
    assert SECRET not in attribute_values(exporter.get_finished_spans())


async def test_a_task_that_outlives_its_call_sends_untraced() -> None:
    tracer_provider, exporter = provider()
    hooks: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        hooks.append(UPSTREAM_TRACE.get())  # what a reader task started now would inherit
        await send({"type": RESPONSE, "message": result_message(1, {})})

    await messages(app, tracer_provider)(make_test_scope("ping"), None, sink)
    late = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
    assert hooks[0].open("s1", "stdio", late) == (late, {})
    assert [span.name for span in exporter.get_finished_spans()] == ["ping"]


def test_only_probes_and_scrapes_are_left_out_of_http_spans() -> None:
    from opentelemetry.util.http import parse_excluded_urls

    from gateway.tracing import EXCLUDED_PATHS

    excluded = parse_excluded_urls(EXCLUDED_PATHS)
    assert excluded.url_disabled("http://127.0.0.1:8787/healthz")
    assert excluded.url_disabled("http://127.0.0.1:8787/metrics")
    assert not excluded.url_disabled("http://127.0.0.1:8787/servers/metrics-db/mcp")
    assert not excluded.url_disabled("http://127.0.0.1:8787/mcp")
