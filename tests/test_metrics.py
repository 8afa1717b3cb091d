"""Prometheus metrics of a real gateway: /metrics scraped and parsed with prometheus-client's
parser while calls go through, so every count is the one an operator would see."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import (
    RunningGateway,
    default_settings,
    fixture_server,
    initialize_raw,
    running_gateway,
)

RULES: list[dict[str, Any]] = [{"name": "add-once", "tools": ["add"], "rate": "1/min", "burst": 1}]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(gateway: RunningGateway, *, key: bool = True) -> Samples:
    headers = gateway.headers() if key else {}
    response = httpx2.get(f"{gateway.base}/metrics", headers=headers, timeout=10.0)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class Session:
    """A 2025-11-25 session over plain POSTs."""

    def __init__(self, gateway: RunningGateway, http: httpx2.AsyncClient) -> None:
        self.gateway, self.http = gateway, http
        self.session = ""
        self.next_id = 0

    async def open(self) -> Session:
        self.session = await initialize_raw(self.http, self.gateway.url, self.gateway.headers())
        return self

    async def call(self, tool: str, **arguments: Any) -> str:
        self.next_id += 1
        message = {
            "jsonrpc": "2.0",
            "id": self.next_id,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        headers = {
            **self.gateway.headers(),
            "content-type": "application/json",
            "mcp-session-id": self.session,
            "mcp-protocol-version": "2025-11-25",
        }
        response = await self.http.post(self.gateway.url, headers=headers, content=orjson.dumps(message))
        assert response.status_code in (200, 429), response.text  # 429: a rate limit's refusal
        return response.text


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = Path(tmp_path_factory.mktemp("metrics"))
    servers = {"alpha": fixture_server("alpha"), "solo": fixture_server("solo", session_mode="per_client")}
    settings = default_settings(servers, rate_limits=RULES)
    with running_gateway(tmp, settings) as running:
        yield running


@contextlib.asynccontextmanager
async def session(gateway: RunningGateway) -> AsyncIterator[Session]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as http:
        yield await Session(gateway, http).open()


def test_metrics_need_the_normal_credential_by_default(gateway: RunningGateway) -> None:
    assert httpx2.get(f"{gateway.base}/metrics", timeout=10.0).status_code == 401
    samples = scrape(gateway)
    states = ("running", "starting", "restarting", "failed", "not_started")
    values = [value(samples, "portcullis_upstream_state", server="alpha", state=state) for state in states]
    assert sorted(values) == [0, 0, 0, 0, 1]  # one state at a time, every state sampled
    assert ("portcullis_build_info", frozenset({("version", "0.1.0")})) in samples


async def test_a_tool_call_is_counted_and_timed_by_method_server_and_tool(gateway: RunningGateway) -> None:
    before = scrape(gateway)
    async with session(gateway) as client:
        assert "hi" in await client.call("alpha__echo", text="hi")
        await client.call("alpha__echo", text="again")
        during = scrape(gateway)
    after = scrape(gateway)
    labels = {"method": "tools/call", "server": "alpha", "tool": "echo"}
    name = "portcullis_requests_total"
    assert value(after, name, **labels, outcome="ok") - value(before, name, **labels, outcome="ok") == 2
    count = "portcullis_request_duration_seconds_count"
    assert value(after, count, **labels) - value(before, count, **labels) == 2
    assert value(after, "portcullis_request_duration_seconds_bucket", **labels, le="+Inf") >= 2
    init = {"method": "initialize", "server": "-", "tool": "-", "outcome": "ok"}
    assert value(after, name, **init) > value(before, name, **init)
    assert value(during, "portcullis_sessions_live") >= 1
    assert value(after, "portcullis_upstream_state", server="alpha", state="running") == 1
    # no session id, principal or argument value is a label anywhere
    text = httpx2.get(f"{gateway.base}/metrics", headers=gateway.headers(), timeout=10.0).text
    assert client.session not in text and "alice" not in text and "again" not in text


async def test_errors_are_counted_by_fault_and_unknown_tools_are_other(gateway: RunningGateway) -> None:
    before = scrape(gateway)
    async with session(gateway) as client:
        await client.call("alpha__no_such_tool_4711")
        await client.call("alpha__fail")
    after = scrape(gateway)
    errors = "portcullis_errors_total"
    labels = {"method": "tools/call", "server": "-", "fault": "client"}
    assert value(after, errors, **labels) - value(before, errors, **labels) == 1
    refused = {"method": "tools/call", "server": "-", "tool": "other", "outcome": "error"}
    name = "portcullis_requests_total"
    assert value(after, name, **refused) - value(before, name, **refused) == 1
    failed = {"method": "tools/call", "server": "alpha", "tool": "fail", "outcome": "tool_error"}
    assert value(after, name, **failed) - value(before, name, **failed) == 1
    assert not any("no_such_tool" in str(labels) for _, labels in after)


async def test_a_rate_limit_refusal_is_counted_by_rule(gateway: RunningGateway) -> None:
    before = scrape(gateway)
    async with session(gateway) as client:
        await client.call("alpha__add", a=1, b=2)
        assert "-32029" in await client.call("alpha__add", a=1, b=2)
    after = scrape(gateway)
    refusals = "portcullis_rate_limit_refusals_total"
    assert value(after, refusals, rule="add-once") - value(before, refusals, rule="add-once") == 1
    policy = {"method": "tools/call", "server": "alpha", "fault": "policy"}
    assert (
        value(after, "portcullis_errors_total", **policy) - value(before, "portcullis_errors_total", **policy)
        == 1
    )
    refused = {"method": "tools/call", "server": "alpha", "tool": "add", "outcome": "error"}
    name = "portcullis_requests_total"
    assert value(after, name, **refused) - value(before, name, **refused) == 1


async def test_an_upstream_restart_is_counted(gateway: RunningGateway) -> None:
    before = scrape(gateway)
    async with session(gateway) as client:
        await client.call("alpha__crash")
        await client.call("alpha__echo", text="back")  # waits for the restart
    after = scrape(gateway)
    restarts = "portcullis_upstream_restarts_total"
    assert value(after, restarts, server="alpha") - value(before, restarts, server="alpha") == 1
    upstream = {"method": "tools/call", "server": "alpha", "fault": "upstream"}
    errors = "portcullis_errors_total"
    assert value(after, errors, **upstream) - value(before, errors, **upstream) == 1


async def test_a_per_client_servers_restart_is_counted(gateway: RunningGateway) -> None:
    """A client's own upstream process crashing and opening again is a restart of that server."""
    before = scrape(gateway)
    async with session(gateway) as client:
        await client.call("solo__echo", text="first")  # its first start: no restart
        await client.call("solo__crash")
        assert "back" in await client.call("solo__echo", text="back")  # opened again
    after = scrape(gateway)
    restarts = "portcullis_upstream_restarts_total"
    assert value(after, restarts, server="solo") - value(before, restarts, server="solo") == 1


def test_metrics_public_and_off(tmp_path: Path) -> None:
    settings = default_settings({}, telemetry={"metrics": {"public": True}})
    with running_gateway(tmp_path, settings) as running:
        assert httpx2.get(f"{running.base}/metrics", timeout=10.0).status_code == 200
        assert scrape(running, key=False)
    settings = default_settings({}, telemetry={"metrics": {"enabled": False}})
    with running_gateway(tmp_path, settings) as running:
        response = httpx2.get(f"{running.base}/metrics", headers=running.headers(), timeout=10.0)
        assert response.status_code == 404


async def test_guardrail_verdicts_are_counted_by_plugin_and_action(gateway: RunningGateway) -> None:
    def verdicts(samples: Samples) -> dict[tuple[str, str], float]:
        found: dict[tuple[str, str], float] = {}
        for (name, labels), count in samples.items():
            if name == "portcullis_plugin_verdicts_total":
                shown = dict(labels)
                key = (shown["plugin"], shown["action"])
                found[key] = found.get(key, 0) + count
        return found

    before = verdicts(scrape(gateway))
    async with session(gateway) as client:
        await client.call("alpha__echo", text="nothing to see")
        await client.call("alpha__echo", text="key AKIAIOSFODNN7EXAMPLQ and ghp_" + "a1B2" * 9)
    after = verdicts(scrape(gateway))
    changed = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
    assert any(action == "allowed" for _, action in changed), changed
    assert any(action in ("blocked", "redacted") for _, action in changed), changed
    assert "AKIA" not in str(after)


async def test_calls_in_flight_are_seen_while_they_run(gateway: RunningGateway) -> None:
    async with session(gateway) as client:
        slow = asyncio.ensure_future(client.call("alpha__slow", seconds=3))
        deadline = time.monotonic() + 10
        seen = 0.0
        while not slow.done() and time.monotonic() < deadline and not seen:
            await asyncio.sleep(0.1)
            samples = await asyncio.to_thread(scrape, gateway)
            seen = value(samples, "portcullis_calls_in_flight")
        await slow
    assert seen >= 1
    assert value(scrape(gateway), "portcullis_calls_in_flight") == 0


async def test_an_open_get_stream_is_counted(gateway: RunningGateway) -> None:
    async with session(gateway) as client:
        headers = {
            **gateway.headers(),
            "accept": "text/event-stream",
            "mcp-session-id": client.session,
            "mcp-protocol-version": "2025-11-25",
        }
        async with client.http.stream("GET", gateway.url, headers=headers) as stream:
            assert stream.status_code == 200
            deadline = time.monotonic() + 10
            seen = 0.0
            while time.monotonic() < deadline and not seen:
                samples = await asyncio.to_thread(scrape, gateway)
                seen = value(samples, "portcullis_streams_open")
                await asyncio.sleep(0.1)
    assert seen >= 1
