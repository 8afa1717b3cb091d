"""A session ends one way, whatever ends it (DELETE, the idle janitor, an expired record found
on read): its live state, its kept SSE events and its upstream resource subscriptions all go.

The gateway is built in process (gateway.app) and driven over httpx2's ASGI transport, so the
sizes of its stores can be checked; the upstream is the real asking server over stdio, which
reports what it is subscribed to through a tool.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import orjson
import pytest

from gateway.app import Gateway
from gateway.settings import Settings
from gateway.state.memory import InMemoryEventStore
from tests.support import ACCEPT_BOTH, ROOT, default_settings

ASKING = {
    "command": "python",
    "args": [str(ROOT / "tests" / "fixtures" / "asking_server.py")],
    "era": "legacy",
    "start": "eager",
}
URI = "asking://counter"
IDLE = 600.0


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    settings = Settings(
        **default_settings({"asking": ASKING}, auth={"enabled": False}, sessions={"idle_timeout": IDLE})
    )
    gateway = Gateway(settings, key_hashes={})
    await gateway.start()
    gc.unfreeze()  # start() freezes what lives as long as the process; a test's objects do not
    try:
        yield gateway
    finally:
        await gateway.stop()


@pytest.fixture
async def http(gateway: Gateway) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=gateway.asgi())
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=30) as client:
        yield client


async def post(http: httpx2.AsyncClient, session_id: str | None, message: dict[str, Any]) -> httpx2.Response:
    headers = {"accept": ACCEPT_BOTH, "content-type": "application/json"}
    if session_id is not None:
        headers["mcp-session-id"] = session_id
    return await http.post("/mcp", content=orjson.dumps({"jsonrpc": "2.0", **message}), headers=headers)


async def open_session(http: httpx2.AsyncClient) -> str:
    client = {"name": "t", "version": "0"}
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": client}
    answer = await post(http, None, {"id": 0, "method": "initialize", "params": params})
    assert answer.status_code == 200, answer.text
    session_id = answer.headers["mcp-session-id"]
    await post(http, session_id, {"method": "notifications/initialized"})
    return session_id


async def holding_everything(http: httpx2.AsyncClient) -> str:
    """A session with an upstream subscription and SSE events kept for resumption."""
    session_id = await open_session(http)
    subscribe = {"id": 1, "method": "resources/subscribe", "params": {"uri": URI}}
    subscribed = await post(http, session_id, subscribe)
    assert "result" in subscribed.json(), subscribed.text
    call = {"name": "asking__progress", "arguments": {"steps": 1}, "_meta": {"progressToken": "p"}}
    streamed = await post(http, session_id, {"id": 2, "method": "tools/call", "params": call})
    assert streamed.headers["content-type"].startswith("text/event-stream")  # so its events are kept
    return session_id


async def upstream_subscriptions(http: httpx2.AsyncClient, observer: str) -> str:
    answer = await post(
        http, observer, {"id": 9, "method": "tools/call", "params": {"name": "asking__subscribed"}}
    )
    text: str = answer.json()["result"]["content"][0]["text"]
    return text


async def eventually(probe: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not await probe():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def age(gateway: Gateway, session_id: str) -> None:
    """Make a session look idle past the limit (the in-memory record is the live object)."""
    record = await gateway.store.get(session_id)
    assert record is not None
    record.last_seen -= 2 * IDLE


def kept_events(gateway: Gateway) -> int:
    assert isinstance(gateway.events, InMemoryEventStore)
    return len(gateway.events)


async def end_by_delete(gateway: Gateway, http: httpx2.AsyncClient, session_id: str) -> None:
    answer = await http.delete("/mcp", headers={"mcp-session-id": session_id})
    assert answer.status_code == 204


async def end_by_janitor(gateway: Gateway, http: httpx2.AsyncClient, session_id: str) -> None:
    await age(gateway, session_id)
    assert await gateway.expire_idle_sessions() == 1


async def end_on_read(gateway: Gateway, http: httpx2.AsyncClient, session_id: str) -> None:
    await age(gateway, session_id)
    answer = await post(http, session_id, {"id": 3, "method": "ping"})
    assert answer.status_code == 404  # found expired on read, before any janitor came by


@pytest.mark.parametrize("end", [end_by_delete, end_by_janitor, end_on_read], ids=lambda f: f.__name__)
async def test_every_way_a_session_ends_releases_all_it_held(
    gateway: Gateway, http: httpx2.AsyncClient, end: Callable[..., Awaitable[None]]
) -> None:
    observer = await open_session(http)
    session_id = await holding_everything(http)
    assert await upstream_subscriptions(http, observer) == URI
    assert session_id in gateway.live.ids()
    assert kept_events(gateway) == 1

    await end(gateway, http, session_id)

    assert await eventually(lambda: _equals(upstream_subscriptions(http, observer), ""))
    assert gateway.interest.subscribers("asking", URI) == set()
    assert gateway.live.ids() == [observer]
    assert kept_events(gateway) == 0
    assert await gateway.store.count() == 1
    assert (await post(http, session_id, {"id": 4, "method": "ping"})).status_code == 404


async def _equals(value: Awaitable[str], wanted: str) -> bool:
    return await value == wanted


async def test_a_thousand_sessions_that_time_out_leave_nothing_behind(
    gateway: Gateway, http: httpx2.AsyncClient
) -> None:
    sessions: list[str] = []
    for _ in range(20):  # 50 at a time: each streams a call, so it has events kept
        batch = await asyncio.gather(*(open_session(http) for _ in range(50)))
        call = {"name": "asking__progress", "arguments": {"steps": 1}, "_meta": {"progressToken": "p"}}
        await asyncio.gather(
            *(post(http, sid, {"id": 1, "method": "tools/call", "params": call}) for sid in batch)
        )
        sessions += batch
    assert len(gateway.live) == 1000 and kept_events(gateway) == 1000
    for session_id in sessions:
        await age(gateway, session_id)
    # Half are found expired by a request before the janitor runs; it ends the other half.
    answers = await asyncio.gather(*(post(http, sid, {"id": 2, "method": "ping"}) for sid in sessions[::2]))
    assert {answer.status_code for answer in answers} == {404}
    assert await gateway.expire_idle_sessions() == 500
    assert len(gateway.live) == 0
    assert kept_events(gateway) == 0
    assert await gateway.store.count() == 0
