"""The counts behind ``/metrics``, kept as plain integers and exported when Prometheus scrapes.

prometheus-client's own counters take a lock on every increment (~2.5 µs here, ~5.5 µs for a
histogram observation): more than the whole metrics budget. Every count is made on the event
loop's thread, and the scrape runs on it too, so plain dictionaries of ints need no lock; they
become metric families only in :meth:`Counts.collect`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

OTHER: Final = "other"
LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
_BOUNDS: Final = (*map(floatToGoString, LATENCY_BUCKETS), "+Inf")
"""The ``le`` labels, written as prometheus-client's own histograms write them."""


class Bounded:
    """Admits at most ``limit`` distinct label values; later newcomers are ``other``."""

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(value)
        return value


class Latency:
    """One histogram series: a count per bucket (not cumulative until exported) and the sum."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        running = 0
        out: list[tuple[str, float]] = []
        for bound, count in zip(_BOUNDS, self.buckets, strict=True):
            running += count
            out.append((bound, running))
        return out


class Counts:
    """Every count the MCP tier, the plugins and the caches make; a prometheus-client collector."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, str], int] = {}
        self.latency: dict[tuple[str, str, str], Latency] = {}
        self.errors: dict[tuple[str, str, str], int] = {}
        self.refusals: dict[str, int] = {}
        self.verdicts: dict[tuple[str, str, str], int] = {}
        self.cache_hits: dict[str, int] = {}
        self.cache_misses: dict[str, int] = {}
        self.cache_source: Callable[[], Mapping[tuple[str, str], int]] | None = None
        """A cache that keeps its own counts, ``(cache, "hit" | "miss") -> count``: read at scrape."""

    def describe(self) -> Iterator[Metric]:
        return self.collect()  # no live state read: describing is collecting

    def collect(self) -> Iterator[Metric]:
        yield _counter(
            "portcullis_requests",
            "JSON-RPC requests answered, by method, server, tool (tools/call only) and outcome",
            ["method", "server", "tool", "outcome"],
            self.requests,
        )
        duration = HistogramMetricFamily(
            "portcullis_request_duration_seconds",
            "Time from a request entering the MCP tier to its answer",
            labels=["method", "server", "tool"],
        )
        for labels, series in self.latency.items():
            duration.add_metric(list(labels), series.cumulative(), series.total)
        yield duration
        yield _counter(
            "portcullis_errors",
            "JSON-RPC errors answered, by whose fault they are",
            ["method", "server", "fault"],
            self.errors,
        )
        yield _counter(
            "portcullis_rate_limit_refusals",
            "Requests refused by a rate or concurrency limit, by rule",
            ["rule"],
            self.refusals,
        )
        yield _counter(
            "portcullis_plugin_verdicts",
            "What plugins and guardrails decided on a payload, by plugin, hook and action",
            ["plugin", "hook", "action"],
            self.verdicts,
        )
        hits, misses = self._cache_counts()
        yield _counter("portcullis_cache_hits", "Answers served from a cache", ["cache"], hits)
        yield _counter("portcullis_cache_misses", "Cache lookups that found nothing", ["cache"], misses)

    def _cache_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Hits and misses counted here (:class:`PrometheusCacheCounters`) plus the source's."""
        hits, misses = dict(self.cache_hits), dict(self.cache_misses)
        if self.cache_source is not None:
            for (cache, outcome), count in self.cache_source().items():
                table = hits if outcome == "hit" else misses if outcome == "miss" else None
                if table is not None:
                    table[cache] = table.get(cache, 0) + count
        return hits, misses


def _counter(
    name: str, documentation: str, labels: list[str], values: Mapping[Any, int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, value in values.items():
        family.add_metric([key] if isinstance(key, str) else list(key), value)
    return family


class PrometheusCacheCounters:
    """``CacheCounters`` (see :mod:`middleware.telemetry.metrics`) on :class:`Counts`, at most
    32 cache names."""

    def __init__(self, counts: Counts) -> None:
        self._hits = counts.cache_hits
        self._misses = counts.cache_misses
        self._name = Bounded(32)

    def hit(self, cache: str) -> None:
        name = self._name(cache)
        self._hits[name] = self._hits.get(name, 0) + 1

    def miss(self, cache: str) -> None:
        name = self._name(cache)
        self._misses[name] = self._misses.get(name, 0) + 1


class VerdictCounter:
    """Counts one plugin's decision: ``action`` is allowed, blocked, warned, modified or error."""

    def __init__(self, counts: Counts) -> None:
        self._verdicts = counts.verdicts
        self._plugin = Bounded(256)

    def __call__(self, plugin: str, hook: str, action: str) -> None:
        key = (self._plugin(plugin), hook[:64], action)
        self._verdicts[key] = self._verdicts.get(key, 0) + 1
