"""Two replicas on one Redis, requests sent to one or the other on purpose: a client's answer to
a server request and its cancellation reach the call on the other replica, a resource update
reaches a GET stream open on the other, a session's end reaches both, a dropped stream resumes
on the other, and a task made through one is followed through the other."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from tests.support import INITIALIZE, RunningGateway, default_settings, fixture_server, running_gateway
from tests.test_modern_front import ASKING_SERVER, SAMPLING_ANSWER
from tests.test_mrtr_replicas import redis_server

SAMPLING = {"sampling": {}}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, RunningGateway]]:
    """Two replicas on one Redis, in front of the servers every test here uses."""
    from tests.test_tasks import TASK_SERVER

    tmp = Path(tmp_path_factory.mktemp("pair"))
    with redis_server(tmp) as url:
        servers = {"asking": ASKING_SERVER, "alpha": fixture_server("alpha"), "kitchen": TASK_SERVER}
        settings = default_settings(servers, redis={"url": url})
        with running_gateway(tmp, settings) as first, running_gateway(tmp, settings) as second:
            yield first, second


async def legacy_session(http: httpx2.AsyncClient, gateway: RunningGateway) -> dict[str, str]:
    body = {**INITIALIZE, "params": {**INITIALIZE["params"], "capabilities": SAMPLING}}
    headers = {**gateway.headers(), "content-type": "application/json"}
    opened = await http.post(gateway.url, headers=headers, json=body)
    assert opened.status_code == 200, opened.text
    session = {
        **headers,
        "mcp-session-id": opened.headers["mcp-session-id"],
        "mcp-protocol-version": "2025-11-25",
    }
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert (await http.post(gateway.url, headers=session, json=initialized)).status_code == 202
    return session


async def sse_messages(response: httpx2.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in response.aiter_lines():
        if line.startswith("data:") and line[5:].strip():
            yield orjson.loads(line[5:])


async def test_an_answer_and_a_cancellation_sent_to_the_other_replica_reach_the_call(
    pair: tuple[RunningGateway, RunningGateway],
) -> None:
    first, second = pair
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
        session = await legacy_session(http, first)
        assert await sampled_across(http, first, second, session) == "sampled: echo of hello"
        assert await cancelled_across(http, first, second, session)


async def sampled_across(
    http: httpx2.AsyncClient, first: RunningGateway, second: RunningGateway, session: dict[str, str]
) -> str:
    """The call runs on ``first``; the client answers its sampling request on ``second``."""
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "asking__sample", "arguments": {"prompt": "hello"}},
    }
    async with http.stream("POST", first.url, headers=session, json=call) as response:
        async for message in sse_messages(response):
            if message.get("method") == "sampling/createMessage":
                answer = {"jsonrpc": "2.0", "id": message["id"], "result": SAMPLING_ANSWER}
                posted = await http.post(second.url, headers=session, json=answer)
                assert posted.status_code == 202, posted.text
            elif message.get("id") == 7:
                text: str = message["result"]["content"][0]["text"]
                return text
    raise AssertionError("the call never answered")


async def cancelled_across(
    http: httpx2.AsyncClient, first: RunningGateway, second: RunningGateway, session: dict[str, str]
) -> bool:
    """A slow call on ``first``, cancelled through ``second``: it ends at once, as cancelled."""
    call = {
        "jsonrpc": "2.0",
        "id": 8,
        "method": "tools/call",
        "params": {"name": "alpha__slow", "arguments": {"seconds": 20}},
    }
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 8}}

    async def cancel_soon() -> None:
        await asyncio.sleep(1.0)
        assert (await http.post(second.url, headers=session, json=cancel)).status_code == 202

    canceller = asyncio.create_task(cancel_soon())
    try:
        async with asyncio.timeout(10):  # not the 20 s the call would take
            response = await http.post(first.url, headers=session, json=call)
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await canceller
    answered = response.text
    return response.status_code == 200 and "cancelled" in answered and '"id":8' in answered.replace(" ", "")


async def test_a_resource_update_reaches_the_get_stream_open_on_the_other_replica(
    pair: tuple[RunningGateway, RunningGateway],
) -> None:
    """Subscribed through one replica, listening on the other: the update the first replica's
    upstream sends reaches the stream; a DELETE through the first ends the stream on the second."""
    first, second = pair
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
        session = await legacy_session(http, first)
        get = {**session, "accept": "text/event-stream"}
        async with http.stream("GET", second.url, headers=get) as stream:
            assert stream.status_code == 200
            updated = asyncio.Event()
            reading = asyncio.create_task(read_all(stream, updated))
            await call(http, first, session, "resources/subscribe", {"uri": "asking://counter"})
            await call(http, first, session, "tools/call", {"name": "asking__bump", "arguments": {}})
            async with asyncio.timeout(10):
                await updated.wait()
            ended = await http.delete(first.url, headers=session)
            assert ended.status_code in (200, 204)
            async with asyncio.timeout(10):  # the other replica let go of the session too
                heard = await reading
    assert [m["params"]["uri"] for m in heard if "params" in m] == ["asking://counter"]


async def call(
    http: httpx2.AsyncClient, gateway: RunningGateway, session: dict[str, str], method: str, params: Any
) -> None:
    body = {"jsonrpc": "2.0", "id": method, "method": method, "params": params}
    assert (await http.post(gateway.url, headers=session, json=body)).status_code == 200


async def read_all(stream: httpx2.Response, updated: asyncio.Event) -> list[dict[str, Any]]:
    """Every message of the stream until it ends; ``updated`` is set at the resource update."""
    heard = []
    async for message in sse_messages(stream):
        heard.append(message)
        if message.get("method") == "notifications/resources/updated":
            updated.set()
    return heard


async def test_a_stream_dropped_on_one_replica_resumes_on_the_other(
    pair: tuple[RunningGateway, RunningGateway],
) -> None:
    """The events of a call's stream are kept in Redis: ``Last-Event-ID`` on the other replica
    replays what was missed, then follows the call live until its response."""
    from tests.test_resumability import PROGRESS_CALL, sse_events

    first, second = pair
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
        session = await legacy_session(http, first)
        last_id = None
        async with http.stream("POST", first.url, headers=session, json=PROGRESS_CALL) as response:
            async for event_id, message in sse_events(response):
                last_id = event_id
                if message is not None:
                    break  # dropped after the first progress
        assert last_id is not None
        after: list[Any] = []
        get = {**session, "accept": "text/event-stream", "last-event-id": last_id}
        async with http.stream("GET", second.url, headers=get) as resumed:
            assert resumed.status_code == 200
            async for _, message in sse_events(resumed):
                if message is not None:
                    after.append(message.get("params", {}).get("progress") or message.get("result"))
    assert after[:-1] == [2, 3, 4, 5, 6], after
    assert after[-1]["content"][0]["text"] == "6 steps"


async def test_a_task_made_through_one_replica_is_answered_through_the_other(
    pair: tuple[RunningGateway, RunningGateway],
) -> None:
    """The task runs in the first replica's upstream session; ``tasks/result`` and ``tasks/get``
    sent to the second are asked of the first over the bus, for its owner only."""
    from tests.support import BOB_KEY
    from tests.test_tasks import Session

    first, second = pair
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
        alice = await Session(http, first).open()
        brew = {"name": "kitchen__brew", "arguments": {"flavour": "oolong"}, "task": {"ttl": 60000}}
        task_id = (await alice.call("tools/call", brew))["result"]["task"]["taskId"]
        elsewhere = Session(http, second)
        elsewhere.headers = alice.headers  # the same session, through the other replica
        result = await elsewhere.call("tasks/result", {"taskId": task_id})
        assert result["result"]["content"][0]["text"] == "brewed oolong", result
        status = await elsewhere.call("tasks/get", {"taskId": task_id})
        assert status["result"]["status"] == "completed" and status["result"]["taskId"] == task_id
        bob = await Session(http, second, BOB_KEY).open()
        refused = await bob.call("tasks/get", {"taskId": task_id})
        assert "unknown task" in refused["error"]["message"]  # nobody answers for another's task
