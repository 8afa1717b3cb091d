"""Traces end to end: a real gateway exports to an OTLP/HTTP receiver the test runs, keeps the
client's trace, and hands it on to stdio and HTTP upstreams."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.fixtures.otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver
from tests.http_fixtures import http_fixture, seen_requests
from tests.support import RunningGateway, default_settings, fixture_server, running_gateway, text_of
from tests.test_modern_front import post, request

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
MODERN_TRACE = "5b8efff798038103d269b633813fc60c"
MODERN_SPAN = "eee19b7ec3c1b174"
ARGUMENT = "an-argument-value-that-must-not-be-exported"
META_SERVER = """
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message:
        continue
    method, params = message.get("method"), message.get("params") or {}
    answer = {"jsonrpc": "2.0", "id": message["id"]}
    if method == "initialize":
        answer["result"] = {"protocolVersion": params["protocolVersion"], "capabilities": {"tools": {}},
                            "serverInfo": {"name": "meta", "version": "1"}}
    elif method == "tools/list":
        answer["result"] = {"tools": [{"name": "meta", "inputSchema": {"type": "object"}}]}
    elif method == "tools/call":
        answer["result"] = {"content": [{"type": "text", "text": json.dumps(params.get("_meta") or {})}]}
    else:
        answer["error"] = {"code": -32601, "message": "method not found"}
    sys.stdout.write(json.dumps(answer) + "\\n")
    sys.stdout.flush()
"""


def traced_settings(
    tmp: Path, receiver: OtlpReceiver, servers: dict[str, Any], **traces: Any
) -> dict[str, Any]:
    script = tmp / "meta_server.py"
    script.write_text(META_SERVER)
    every = {"s1": fixture_server("s1"), "meta": {"command": "python", "args": [str(script)]}, **servers}
    options = {"enabled": True, "endpoint": receiver.endpoint, "service_name": "portcullis-test", **traces}
    return default_settings(every, telemetry={"traces": options})


def client_with(gateway: RunningGateway, traceparent: str) -> Client:
    http = httpx2.AsyncClient(
        headers={"authorization": f"Bearer {gateway.key}", "traceparent": traceparent},
        timeout=httpx2.Timeout(30.0, read=60.0),
    )
    return Client(streamable_http_client(gateway.url, http_client=http), mode="legacy")


def one(spans: list[ReceivedSpan], **attributes: Any) -> ReceivedSpan:
    found = [s for s in spans if all(s.attributes.get(k) == v for k, v in attributes.items())]
    assert len(found) == 1, found
    return found[0]


async def test_spans_keep_the_clients_trace_and_reach_every_upstream(tmp_path: Path) -> None:
    with otlp_receiver() as receiver, http_fixture(tmp_path, "h1") as h1:
        settings = traced_settings(
            tmp_path, receiver, {"h1": {"url": h1.url}}, headers={"x-otlp-token": "${OTLP_T}"}
        )
        with running_gateway(tmp_path, settings, env={"OTLP_T": "collector-token"}) as gateway:
            async with client_with(gateway, f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01") as client:
                assert text_of(await client.call_tool("s1__echo", {"text": ARGUMENT})) == f"s1:{ARGUMENT}"
                meta = json.loads(text_of(await client.call_tool("meta__meta", {})))
                await client.call_tool("s1__fail", {})
                h1_seen = await seen_requests(client, "h1__seen_requests")
            status, answer = await modern_call(gateway)
            assert status == 200, answer
        # Stopped: the last batch has been exported.
        assert {export["x-otlp-token"] for export in receiver.exports} == {"collector-token"}
        assert_message_and_upstream_spans(receiver)
        assert_stdio_meta_and_http_headers(receiver, meta, h1_seen)
        assert_modern_meta_is_the_parent(receiver, answer)
        assert ARGUMENT not in repr([span.attributes for span in receiver.spans])


async def modern_call(gateway: RunningGateway) -> tuple[int, dict[str, Any]]:
    """A 2026-07-28 request naming its parent in ``_meta.traceparent``."""
    traceparent = f"00-{MODERN_TRACE}-{MODERN_SPAN}-01"
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as http:
        return await post(
            http,
            gateway,
            request("tools/call", {"name": "meta__meta", "_meta": {"traceparent": traceparent}}),
        )


def assert_message_and_upstream_spans(receiver: OtlpReceiver) -> None:
    (echo,) = receiver.wait_for("tools/call s1__echo")
    assert echo.kind == "SERVER" and echo.trace_id == CLIENT_TRACE
    assert echo.resource["service.name"] == "portcullis-test"
    assert echo.attributes["mcp.method.name"] == "tools/call"
    assert echo.attributes["gen_ai.tool.name"] == "s1__echo"
    assert echo.attributes["gen_ai.operation.name"] == "execute_tool"
    assert echo.attributes["portcullis.server.name"] == "s1"
    assert len(echo.attributes["mcp.session.id"]) == 8
    assert "jsonrpc.request.id" in echo.attributes
    # The HTTP tier's span sits between the client's span and the message's.
    http = [s for s in receiver.spans if s.span_id == echo.parent_span_id]
    assert http and http[0].kind == "SERVER" and http[0].parent_span_id == CLIENT_SPAN
    upstream = [s for s in receiver.named("tools/call echo") if s.parent_span_id == echo.span_id]
    assert len(upstream) == 1 and upstream[0].kind == "CLIENT"
    assert upstream[0].attributes["portcullis.server.name"] == "s1"
    assert upstream[0].attributes["network.transport"] == "pipe"
    (fail,) = receiver.named("tools/call s1__fail")
    assert fail.status == "ERROR" and fail.attributes["error.type"] == "tool_error"


def assert_stdio_meta_and_http_headers(
    receiver: OtlpReceiver, meta: dict[str, Any], h1_seen: list[Any]
) -> None:
    (meta_span,) = [s for s in receiver.named("tools/call meta") if s.trace_id == CLIENT_TRACE]
    assert meta["traceparent"] == f"00-{CLIENT_TRACE}-{meta_span.span_id}-01"
    (h1_span,) = receiver.named("tools/call seen_requests")
    assert h1_span.attributes["network.transport"] == "tcp"
    assert h1_span.attributes["portcullis.upstream.transport"] == "streamable-http"
    traceparents = [r["headers"].get("traceparent") for r in h1_seen if r["method"] == "POST"]
    assert f"00-{CLIENT_TRACE}-{h1_span.span_id}-01" in traceparents


def assert_modern_meta_is_the_parent(receiver: OtlpReceiver, answer: dict[str, Any]) -> None:
    (message,) = [s for s in receiver.named("tools/call meta__meta") if s.trace_id == MODERN_TRACE]
    assert message.parent_span_id == MODERN_SPAN
    (upstream,) = [s for s in receiver.named("tools/call meta") if s.parent_span_id == message.span_id]
    meta = json.loads(answer["result"]["content"][0]["text"])
    assert meta["traceparent"] == f"00-{MODERN_TRACE}-{upstream.span_id}-01"


async def test_traces_off_export_nothing_and_add_nothing(tmp_path: Path) -> None:
    with otlp_receiver() as receiver:
        settings = traced_settings(tmp_path, receiver, {}, enabled=False)
        with running_gateway(tmp_path, settings) as gateway:
            async with client_with(gateway, f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01") as client:
                await client.call_tool("s1__echo", {"text": "x"})
                meta = json.loads(text_of(await client.call_tool("meta__meta", {})))
        assert meta == {} or "traceparent" not in meta
        assert receiver.spans == [] and receiver.exports == []


@pytest.mark.parametrize("enabled", [False, True])
async def test_the_tracing_middlewares_are_in_both_tiers_only_when_on(enabled: bool) -> None:
    from gateway.app import Gateway
    from gateway.settings import Settings

    traces = {"traces": {"enabled": enabled, "endpoint": "http://127.0.0.1:9/v1/traces"}}
    gateway = Gateway(Settings(servers={"s1": fixture_server("s1")}, telemetry=traces), key_hashes={})
    http_layers = layers(gateway.asgi())
    names = {type(layer).__name__ for layer in http_layers}
    # Sampled requests only go through the instrumentation: it sits beside the app, not in line.
    names |= {type(layer.instrumented).__name__ for layer in http_layers if hasattr(layer, "instrumented")}
    for endpoint in gateway.endpoints.values():
        names |= {type(layer).__name__ for layer in layers(endpoint)}
    assert ("OpenTelemetryMiddleware" in names) is enabled
    assert ("SampleFirst" in names) is enabled
    assert ("TraceMessages" in names) is enabled
    assert "HostOriginGuard" in names  # the walk did go through the HTTP tier
    await gateway.tracing.close()


def layers(app: Any) -> list[Any]:
    """Every middleware reachable through ``app``/``stack`` attributes."""
    seen: list[Any] = []
    while app is not None and all(app is not s for s in seen):
        seen.append(app)
        app = getattr(app, "app", None) or getattr(app, "stack", None)
    return seen


async def test_the_clients_flag_decides_and_what_acts_gets_a_span(tmp_path: Path) -> None:
    """``sample_ratio = 0`` records no new trace, yet a client's sampled trace is recorded whole
    (with a span per plugin that ran and for the policy that refused); a client's unsampled
    trace, and a new one, are recorded nowhere and still reach the upstream, marked unsampled."""
    unsampled_trace = "1" * 32
    with otlp_receiver() as receiver:
        settings = traced_settings(tmp_path, receiver, {}, sample_ratio=0.0)
        settings["policies"] = [{"name": "no-fail", "effect": "deny", "servers": ["s1"], "tools": ["fail"]}]
        with running_gateway(tmp_path, settings) as gateway:
            async with client_with(gateway, f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01") as client:
                await client.call_tool("s1__echo", {"text": ARGUMENT})
                with pytest.raises(MCPError, match="no-fail"):
                    await client.call_tool("s1__fail", {})
            async with client_with(gateway, f"00-{unsampled_trace}-{CLIENT_SPAN}-00") as client:
                carried = json.loads(text_of(await client.call_tool("meta__meta", {})))
            async with client_with(gateway, "not-a-traceparent") as client:
                fresh = json.loads(text_of(await client.call_tool("meta__meta", {})))
        (echo,) = receiver.wait_for("tools/call s1__echo")
        steps = [s for s in receiver.spans if s.parent_span_id == echo.span_id and s.kind == "INTERNAL"]
        assert steps and all(s.name.startswith("plugin ") for s in steps), steps
        assert {s.attributes["portcullis.plugin.outcome"] for s in steps} <= {"continue", "modify", "flag"}
        (denied,) = receiver.named("tools/call s1__fail")
        (policy,) = [s for s in receiver.named("policy") if s.parent_span_id == denied.span_id]
        assert policy.attributes["portcullis.decision.verdict"] == "deny"
        assert policy.attributes["portcullis.decision.by"] == "no-fail"
    assert carried["traceparent"].startswith(f"00-{unsampled_trace}-") and carried["traceparent"].endswith(
        "-00"
    )
    assert fresh["traceparent"].endswith("-00") and unsampled_trace not in fresh["traceparent"]
    assert {s.trace_id for s in receiver.spans} == {CLIENT_TRACE}
