"""Three gateway replicas behind nginx round robin, nothing sticky, one Redis: legacy clients
keep long sessions (progress, sampling, elicitation, roots) while their requests land on every
replica, 2026-07-28 retries complete wherever they land, and a replica killed mid-session loses
no session: its call in flight fails cleanly and the next request succeeds on another."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from gateway.state.redis_sessions import LEASE
from tests.load_balancer import Balancer, round_robin
from tests.support import (
    ALICE_KEY,
    ROOT,
    RunningGateway,
    default_settings,
    fixture_server,
    free_port,
    running_gateway,
    text_of,
)
from tests.test_client_features import elicitation, roots, sampling
from tests.test_drain import open_session
from tests.test_modern_front import ACCEPT_BOTH, ASKING_SERVER, ask_sampling, mirrored, post, retry
from tests.test_modern_front import request as modern_request
from tests.test_mrtr_replicas import _listening, redis_server
from tests.test_rate_limits_redis import stop_redis
from tests.test_reload import rpc

REPLICAS = 3
REDIS_PORT = free_port()


@dataclass
class Cluster:
    replicas: list[RunningGateway]
    balancer: Balancer
    tally: Counter[str] = field(default_factory=Counter)
    """What the test did, for the closing figures: sessions, calls, failures by cause."""


@contextlib.contextmanager
def feed_server() -> Iterator[str]:
    """One remote MCP server every replica connects to (tests/fixtures/feed_server.py); its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fixtures" / "feed_server.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = Path(tmp_path_factory.mktemp("replicas"))
    with redis_server(tmp, REDIS_PORT) as url, feed_server() as feed:
        servers = {
            "asking": ASKING_SERVER,
            "alpha": fixture_server("alpha"),
            "solo": fixture_server("solo", session_mode="per_client"),
            "feed": {"url": feed, "era": "legacy"},  # subscriptions the 2025 way: its own registry
        }
        settings = default_settings(servers, redis={"url": url}, ops={"drain_timeout": 10})
        with (
            running_gateway(tmp, settings) as a,
            running_gateway(tmp, settings) as b,
            running_gateway(tmp, settings) as c,
            round_robin(tmp, [a, b, c]) as balancer,
        ):
            cluster = Cluster([a, b, c], balancer)
            yield cluster
            print(f"\nreplicas behind nginx: {dict(cluster.tally)}")


def through(balancer: Balancer, **options: Any) -> Client:
    http = httpx2.AsyncClient(
        headers={"authorization": f"Bearer {ALICE_KEY}"}, timeout=httpx2.Timeout(30.0, read=60.0)
    )
    return Client(streamable_http_client(balancer.url, http_client=http), mode="legacy", **options)


async def test_a_long_legacy_session_is_served_by_every_replica(cluster: Cluster) -> None:
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    before = len(cluster.balancer.served_by())
    features = {
        "sampling_callback": sampling,
        "elicitation_callback": elicitation,
        "list_roots_callback": roots,
    }
    async with through(cluster.balancer, **features) as client:
        cluster.tally["sessions"] += 1
        for _ in range(4):
            assert (
                text_of(await client.call_tool("asking__sample", {"prompt": "hi"})) == "sampled: echo of hi"
            )
            assert text_of(await client.call_tool("asking__ask", {"question": "?"})) == "answered: forty-two"
            assert text_of(await client.call_tool("asking__roots", {})) == "file:///work/project"
            steps = await client.call_tool(
                "alpha__progress", {"steps": 3, "delay": 0.01}, progress_callback=on_progress
            )
            assert not steps.is_error
            tools = await client.list_tools()
            assert {"asking__sample", "alpha__echo"} <= {tool.name for tool in tools.tools}
            cluster.tally["calls"] += 5
        assert progress.count(3) == 4  # every call's progress reached the client
    served = Counter(cluster.balancer.served_by()[before:])
    assert len(served) == REPLICAS, served  # the session's requests went to every replica


async def test_a_per_client_server_gets_the_sessions_upstream_on_each_replica_it_reaches(
    cluster: Cluster,
) -> None:
    """A ``per_client`` server's upstream session is opened by whichever replica receives the
    request (its process is that replica's): every call works, one upstream per replica."""
    async with through(cluster.balancer) as client:
        cluster.tally["sessions"] += 1
        pids = {text_of(await client.call_tool("solo__pid", {})) for _ in range(2 * REPLICAS)}
        cluster.tally["calls"] += 2 * REPLICAS
    assert len(pids) == REPLICAS, pids


async def test_a_legacy_subscription_and_a_modern_listen_hear_an_update_made_through_any_replica(
    cluster: Cluster,
) -> None:
    """The feed server is one for all replicas: a legacy session's GET stream, subscribe and
    publish each land on a replica of their own, and the update still reaches the stream; a
    2026-07-28 listen stream hears it too."""
    lb = LoadBalanced(cluster.balancer)
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
        session = await open_session(http, lb.url, lb.headers())
        cluster.tally["sessions"] += 1
        listen = modern_request(
            "subscriptions/listen", {"notifications": {"resourceSubscriptions": ["feed://news"]}}, id="sub-1"
        )
        listen_headers = {**lb.headers(), "accept": ACCEPT_BOTH, **mirrored(listen)}
        get_headers = {**session, "accept": "text/event-stream"}
        async with (
            http.stream("GET", lb.url, headers=get_headers) as legacy_stream,
            http.stream("POST", lb.url, headers=listen_headers, json=listen) as modern_stream,
        ):
            legacy_heard = asyncio.create_task(first_update(legacy_stream))
            modern_heard = asyncio.create_task(first_update(modern_stream))
            subscribed = await rpc(http, lb, session, "resources/subscribe", uri="feed://news")
            assert "result" in subscribed, subscribed
            await asyncio.sleep(0.5)  # the listen stream's subscription is in place
            published = await rpc(
                http, lb, session, "tools/call", name="feed__publish", arguments={"headline": "x"}
            )
            assert published["result"]["content"][0]["text"] == "told 2", published
            async with asyncio.timeout(10):
                assert await legacy_heard == "feed://news"
                assert await modern_heard == "feed://news"
        cluster.tally["calls"] += 2


async def first_update(stream: httpx2.Response) -> str:
    async for line in stream.aiter_lines():
        if line.startswith("data:") and "notifications/resources/updated" in line:
            uri: str = orjson.loads(line[5:])["params"]["uri"]
            return uri
    raise AssertionError("the stream ended without the update")


async def test_a_dropped_stream_resumes_through_the_balancer(cluster: Cluster) -> None:
    """A call's stream dropped after its first progress resumes with ``Last-Event-ID`` on
    whichever replica the balancer picks, and follows the call to its response."""
    from tests.test_resumability import PROGRESS_CALL, sse_events

    lb = LoadBalanced(cluster.balancer)
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
        session = await open_session(http, lb.url, lb.headers())
        cluster.tally["sessions"] += 1
        last_id = None
        async with http.stream("POST", lb.url, headers=session, json=PROGRESS_CALL) as response:
            async for event_id, message in sse_events(response):
                last_id = event_id
                if message is not None:
                    break
        assert last_id is not None
        after: list[Any] = []
        get = {**session, "accept": "text/event-stream", "last-event-id": last_id}
        async with http.stream("GET", lb.url, headers=get) as resumed:
            async for _, message in sse_events(resumed):
                if message is not None:
                    after.append(message.get("params", {}).get("progress") or message.get("result"))
        cluster.tally["calls"] += 1
    assert after[:-1] == [2, 3, 4, 5, 6] and after[-1]["content"][0]["text"] == "6 steps", after


async def test_2026_07_28_retries_complete_wherever_they_land(cluster: Cluster) -> None:
    lb = LoadBalanced(cluster.balancer)
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as http:
        for attempt in range(REPLICAS):
            key, state, first = await ask_sampling(http, lb)
            status, answer = await post(http, lb, retry(first, key, state, id=10 + attempt))
            assert status == 200 and answer["result"]["resultType"] == "complete", answer
            assert answer["result"]["content"][0]["text"] == "sampled: echo of hello"
            cluster.tally["calls"] += 2


async def test_a_replica_killed_mid_session_loses_no_session(cluster: Cluster) -> None:
    victim = cluster.replicas[1]
    lb = LoadBalanced(cluster.balancer)
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
        session = await open_session(http, lb.url, lb.headers())
        cluster.tally["sessions"] += 1
        in_flight = asyncio.create_task(slow_call(http, victim.url, session))
        await asyncio.sleep(1.0)
        victim.stop(signal.SIGKILL)
        outcome = await in_flight
        cluster.tally[f"failed: {outcome}"] += 1
        assert outcome == "connection closed", outcome  # a clean failure, at once
        for attempt in range(2 * REPLICAS):  # the same session, on the two replicas left
            answer = await rpc(http, lb, session, "tools/call", name="alpha__echo", arguments={"text": "x"})
            assert answer["result"]["content"][0]["text"] == "alpha:x", (attempt, answer)
            cluster.tally["calls"] += 1


async def test_a_replica_scaled_in_finishes_every_call_it_had_started(cluster: Cluster) -> None:
    """SIGTERM (a scale-in): the calls that reached the draining replica before it stopped
    listening all finish; nginx sends what comes after to the others."""
    leaving = cluster.replicas[2]
    lb = LoadBalanced(cluster.balancer)
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
        session = await open_session(http, lb.url, lb.headers())
        cluster.tally["sessions"] += 1
        calls = [
            asyncio.create_task(
                rpc(http, lb, session, "tools/call", name="alpha__slow", arguments={"seconds": 1.5})
            )
            for _ in range(6)
        ]
        await asyncio.sleep(0.5)
        leaving.stop(signal.SIGTERM, timeout=30)
        answers = await asyncio.gather(*calls)
        later = await rpc(http, lb, session, "tools/call", name="alpha__echo", arguments={"text": "y"})
    assert [answer["result"]["content"][0]["text"] for answer in answers] == ["done"] * 6, answers
    assert later["result"]["content"][0]["text"] == "alpha:y"
    assert leaving.process.returncode == 0
    cluster.tally["calls"] += 7


async def test_redis_restarted_mid_run_refuses_then_recovers_without_a_restart(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Last in the module (Redis comes back empty, and stays for no later test). Redis keeps
    nothing on disk here: while it is down, requests needing a session are refused with 503
    (the documented behaviour); once it is back, the sessions it held are gone (404: the client
    starts a new one, as the spec has it) and everything works again."""
    lb = LoadBalanced(cluster.balancer)
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
        session = await open_session(http, lb.url, lb.headers())
        stop_redis(f"redis://127.0.0.1:{REDIS_PORT}/0")
        await asyncio.sleep(LEASE + 0.1)  # past the lease of the replica that opened the session
        for _ in range(REPLICAS):
            refused = await rpc(http, lb, session, "tools/list")
            assert refused.status_code == 503 and "session store is unreachable" in refused.text
            cluster.tally["refused: redis down (503)"] += 1
        with redis_server(tmp_path, REDIS_PORT):
            gone = await rpc(http, lb, session, "tools/list")
            assert gone.status_code == 404
            fresh = await open_session(http, lb.url, lb.headers())
            cluster.tally["sessions"] += 1
            for _ in range(REPLICAS):
                answer = await rpc(http, lb, fresh, "tools/call", name="alpha__echo", arguments={"text": "z"})
                assert answer["result"]["content"][0]["text"] == "alpha:z"
                cluster.tally["calls"] += 1


async def slow_call(http: httpx2.AsyncClient, url: str, session: dict[str, str]) -> str:
    """A 20 s call sent straight to one replica: how it ends when that replica dies under it."""
    call = {
        "jsonrpc": "2.0",
        "id": 99,
        "method": "tools/call",
        "params": {"name": "alpha__slow", "arguments": {"seconds": 20}},
    }
    try:
        response = await http.post(url, headers=session, json=call)
    except httpx2.RemoteProtocolError:
        return "connection closed"
    return f"answered {response.status_code}"


@dataclass
class LoadBalanced:
    """The balancer where the modern-front helpers expect a gateway."""

    balancer: Balancer
    key: str = ALICE_KEY

    @property
    def url(self) -> str:
        return self.balancer.url

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {key or self.key}"}
