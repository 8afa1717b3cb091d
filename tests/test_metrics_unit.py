"""The metrics parts in process: outcomes, bounded labels, the exposition, the cache interface."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import GatewayMetrics, verdict_of
from gateway.settings.telemetry_metrics import MetricsSettings
from middleware.plugins.models import PluginResult, PluginViolation
from middleware.plugins.runs import AUDIT_AS
from middleware.protocol import RESPONSE, TARGET_NAME, TARGET_SERVER, error_message, result_message
from middleware.protocol.testing import make_test_scope
from middleware.telemetry.metrics import CallMetrics
from middleware.telemetry.metrics_store import Bounded, Counts, PrometheusCacheCounters

NO_RECEIVE: Any = None
"""The apps measured here never receive."""


async def sink(event: Any) -> None:
    return None


def routed(result: Any = None, *, error: dict[str, Any] | None = None, server: str = "alpha") -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["state"][TARGET_SERVER] = server
        scope["state"][TARGET_NAME] = scope["params"].get("name", "").split("__")[-1]
        if error is not None:
            message = error_message(scope["id"], error["code"], "no", fault=error.get("fault"))
            message["error"].setdefault("data", {}).update(error.get("data", {}))
        else:
            message = result_message(scope["id"], result or {"content": []})
        await send({"type": RESPONSE, "message": message})

    return app


def exposed(counts: Counts) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(counts)
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_bounded_admits_a_fixed_number_of_values() -> None:
    bounded = Bounded(2)
    assert [bounded(v) for v in ("a", "b", "c", "a")] == ["a", "b", "other", "a"]


async def test_outcomes_and_the_histogram_are_exported() -> None:
    counts = Counts()
    ok = CallMetrics(routed(), counts=counts)
    await ok(make_test_scope("tools/call", {"name": "alpha__echo"}), NO_RECEIVE, sink)
    await ok(make_test_scope("tools/call", {"name": "alpha__echo"}), NO_RECEIVE, sink)
    await CallMetrics(routed({"isError": True}), counts=counts)(
        make_test_scope("tools/call", {"name": "alpha__echo"}), NO_RECEIVE, sink
    )
    samples = exposed(counts)
    labels = {"method": "tools/call", "server": "alpha", "tool": "echo"}
    assert samples[("portcullis_requests_total", frozenset({**labels, "outcome": "ok"}.items()))] == 2
    assert samples[("portcullis_requests_total", frozenset({**labels, "outcome": "tool_error"}.items()))] == 1
    assert samples[("portcullis_request_duration_seconds_count", frozenset(labels.items()))] == 3
    inf = frozenset({**labels, "le": "+Inf"}.items())
    assert samples[("portcullis_request_duration_seconds_bucket", inf)] == 3
    bound = frozenset({**labels, "le": "60.0"}.items())
    assert samples[("portcullis_request_duration_seconds_bucket", bound)] == 3


async def test_a_gateway_exception_and_a_cancellation_are_counted_then_raised() -> None:
    counts = Counts()

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("bug")

    async def hanging(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(60)

    with pytest.raises(RuntimeError):
        await CallMetrics(broken, counts=counts)(make_test_scope("ping"), NO_RECEIVE, sink)
    hung = CallMetrics(hanging, counts=counts)
    task = asyncio.ensure_future(hung(make_test_scope("ping"), NO_RECEIVE, sink))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert counts.requests == {("ping", "-", "-", "error"): 1, ("ping", "-", "-", "cancelled"): 1}
    assert counts.errors == {("ping", "-", "gateway"): 1}


async def test_labels_stay_bounded() -> None:
    counts = Counts()
    app = CallMetrics(routed(), counts=counts, max_tools=1)
    await app(make_test_scope("tools/call", {"name": "alpha__one"}), NO_RECEIVE, sink)
    await app(make_test_scope("tools/call", {"name": "alpha__two"}), NO_RECEIVE, sink)
    await app(make_test_scope("x-vendor/anything-" + "9" * 40), NO_RECEIVE, sink)
    notification = make_test_scope("notifications/progress", request_id=None)
    await app(notification, NO_RECEIVE, sink)
    tools = {key[2] for key in counts.requests}
    assert tools == {"one", "other", "-"}
    assert {key[0] for key in counts.requests} == {"tools/call", "other"}


async def test_a_call_refused_before_routing_is_labelled_from_the_catalog() -> None:
    counts = Counts()

    async def refuse(scope: Any, receive: Any, send: Any) -> None:
        message = error_message(scope["id"], -32029, "slow down", fault="policy")
        message["error"]["data"]["limit"] = "per-minute"
        await send({"type": RESPONSE, "message": message})

    catalog = {"alpha__add": ("alpha", "add")}
    app = CallMetrics(refuse, counts=counts, tool_owner=catalog.get)
    await app(make_test_scope("tools/call", {"name": "alpha__add"}), NO_RECEIVE, sink)
    await app(make_test_scope("tools/call", {"name": "secret-value-not-a-tool"}), NO_RECEIVE, sink)
    assert counts.requests == {
        ("tools/call", "alpha", "add", "error"): 1,
        ("tools/call", "-", "other", "error"): 1,
    }
    assert counts.refusals == {"per-minute": 2}
    assert counts.errors[("tools/call", "alpha", "policy")] == 1


def test_cache_counters_count_hits_and_misses_by_cache_name() -> None:
    counts = Counts()
    cache = PrometheusCacheCounters(counts)
    cache.hit("tools/list")
    cache.hit("tools/list")
    cache.miss("resources/read")
    for index in range(40):
        cache.miss(f"cache-{index}")
    samples = exposed(counts)
    assert samples[("portcullis_cache_hits_total", frozenset({("cache", "tools/list")}))] == 2
    assert samples[("portcullis_cache_misses_total", frozenset({("cache", "resources/read")}))] == 1
    assert len(counts.cache_hits) + len(counts.cache_misses) - 1 == 32  # 32 names in all, then "other"
    assert counts.cache_misses["other"] == 40 - 30


def test_verdicts_in_one_word() -> None:
    stop = PluginViolation(reason="r", description="d", code="X")
    blocked = PluginResult[Any](continue_processing=False, violation=stop)
    failed = PluginResult[Any](
        continue_processing=False, violation=PluginViolation(reason="r", description="d", code="PLUGIN_ERROR")
    )
    assert verdict_of(True, blocked) == "blocked"
    assert verdict_of(False, blocked) == "warned"
    assert verdict_of(True, failed) == "error"
    assert verdict_of(True, PluginResult[Any](modified_payload={"x": 1})) == "modified"
    assert verdict_of(True, PluginResult[Any]()) == "allowed"
    redacted = PluginResult[Any](modified_payload={"x": 1}, metadata={AUDIT_AS: "redact"})
    flagged = PluginResult[Any](modified_payload={"x": 1}, metadata={AUDIT_AS: "flag"})
    assert (verdict_of(True, redacted), verdict_of(True, flagged)) == ("redacted", "flagged")


def test_metrics_off_costs_nothing() -> None:
    metrics = GatewayMetrics(MetricsSettings(enabled=False))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    assert metrics.wrap(app, router=None) is app  # type: ignore[arg-type]
    assert metrics.public(app) is app
    assert metrics.routes() == []
    metrics.cache.hit("tools/list")  # a no-op, callable all the same


@pytest.mark.parametrize("path", ["metrics", "/", "/a b"])
def test_the_path_must_be_absolute(path: str) -> None:
    with pytest.raises(ValueError, match="absolute path"):
        MetricsSettings(path=path)


def test_a_cache_that_keeps_its_own_counts_is_read_at_scrape_time() -> None:
    counts = Counts()
    PrometheusCacheCounters(counts).hit("tools/list")
    kept = {("tools/list", "hit"): 4, ("tools/call", "miss"): 2, ("tools/call", "store"): 2}
    counts.cache_source = lambda: kept
    samples = exposed(counts)
    assert samples[("portcullis_cache_hits_total", frozenset({("cache", "tools/list")}))] == 5
    assert samples[("portcullis_cache_misses_total", frozenset({("cache", "tools/call")}))] == 2
