"""The headline numbers, read from the gateway's own Prometheus registry (what ``/metrics``
would say), so the console counts nothing itself and agrees with the dashboards."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Final

from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample

HEADLINES: Final = (
    ("requests", "Requests"),
    ("tool_calls", "Tool calls"),
    ("errors", "Errors"),
    ("refused", "Refused by policy"),
    ("blocked", "Blocked by guardrails"),
    ("latency_mean_ms", "Mean latency (ms)"),
    ("latency_p95_ms", "p95 latency (ms, at most)"),
    ("in_flight", "Calls in flight"),
    ("sessions", "Live sessions"),
)
"""(key, label) of each number, in the order shown."""


def _samples(registry: CollectorRegistry) -> Iterable[Sample]:
    for family in registry.collect():
        if family.name.startswith("portcullis_"):
            yield from family.samples


def _count(sample: Sample, totals: dict[str, float]) -> None:
    name, labels, value = sample.name, sample.labels, sample.value
    if name == "portcullis_requests_total":
        totals["requests"] += value
        if labels.get("method") == "tools/call":
            totals["tool_calls"] += value
    elif name == "portcullis_errors_total":
        totals["errors"] += value
        if labels.get("fault") == "policy":
            totals["refused"] += value
    elif name == "portcullis_plugin_verdicts_total" and labels.get("action") == "blocked":
        totals["blocked"] += value
    elif name == "portcullis_calls_in_flight":
        totals["in_flight"] = value
    elif name == "portcullis_sessions_live":
        totals["sessions"] = value


def _p95(buckets: dict[float, float], count: float) -> float | None:
    """The upper bound of the bucket holding the 95th percentile (buckets are cumulative)."""
    for bound in sorted(buckets):
        if buckets[bound] >= 0.95 * count:
            return bound
    return None


def headline(registry: CollectorRegistry | None) -> dict[str, Any]:
    """Each number of :data:`HEADLINES` (None when metrics are off), and ``enabled``."""
    if registry is None:
        return {"enabled": False, **{key: None for key, _ in HEADLINES}}
    totals: dict[str, float] = defaultdict(float)
    buckets: dict[float, float] = defaultdict(float)
    seconds = count = 0.0
    for sample in _samples(registry):
        if sample.name == "portcullis_request_duration_seconds_bucket":
            buckets[float(sample.labels["le"])] += sample.value
        elif sample.name == "portcullis_request_duration_seconds_sum":
            seconds += sample.value
        elif sample.name == "portcullis_request_duration_seconds_count":
            count += sample.value
        else:
            _count(sample, totals)
    numbers: dict[str, Any] = {key: int(totals[key]) for key, _ in HEADLINES if not key.startswith("latency")}
    p95 = _p95(buckets, count) if count else None
    numbers["latency_mean_ms"] = round(1000 * seconds / count, 1) if count else None
    numbers["latency_p95_ms"] = None if p95 is None or p95 == float("inf") else round(1000 * p95, 1)
    return {"enabled": True, **numbers}
