"""The SSE event store on Redis: a stream journaled on one replica resumes on another, within the
same bounds as the in-memory store (the shared contract runs against both), expiring with the
session; an unreachable Redis costs resumption, never a stream."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import redis.asyncio as redis

from gateway.front.events import EventStore, parse_event_id
from gateway.front.get_stream import GetStreams
from gateway.front.reply import Journal, Reply
from gateway.front.sessions import LiveSessions
from gateway.settings import Settings
from gateway.state.events_choice import close_event_store, event_store
from gateway.state.memory import InMemoryEventStore
from gateway.state.redis_events import RedisEventStore
from middleware.protocol import NOTIFICATION, RESPONSE
from tests.test_mrtr_replicas import redis_server

Make = Callable[..., EventStore]


def progress(n: int, size: int = 10) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {"progress": n, "pad": "x" * size},
    }


def seq(event_id: str) -> int:
    parsed = parse_event_id(event_id)
    assert parsed is not None, event_id
    return parsed[1]


def ids(replayed: list[tuple[str, Any]] | None) -> list[str]:
    assert replayed is not None
    return [event_id for event_id, _ in replayed]


async def kept_bytes(store: EventStore, session_id: str) -> int:
    kept = store.kept_bytes(session_id)  # type: ignore[attr-defined]
    return int(await kept if inspect.isawaitable(kept) else kept)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Stores of one kind; Redis ones share a prefix of their own (replicas of one gateway)."""
    made: list[RedisEventStore] = []
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""

    def make(**bounds: Any) -> EventStore:
        if request.param == "memory":
            return InMemoryEventStore(**bounds)
        made.append(RedisEventStore(url, prefix=prefix, idle_timeout=60, **bounds))
        return made[-1]

    yield make
    for store in made:
        await store.close()


# The contract both stores keep.


async def test_events_replay_in_order_after_the_id_given_and_go_with_the_session(make: Make) -> None:
    store = make()
    priming = await store.append("s", "r1", None)
    first = await store.append("s", "r1", progress(1))
    second = await store.append("s", "r1", {"jsonrpc": "2.0", "id": 1, "result": {}})
    assert all(event_id.startswith("r1.") for event_id in (priming, first, second))
    assert seq(priming) < seq(first) < seq(second)
    assert await store.after("s", "r1", -1) == [
        (priming, None),
        (first, progress(1)),
        (second, {"jsonrpc": "2.0", "id": 1, "result": {}}),
    ]
    assert ids(await store.after("s", "r1", seq(first))) == [second]
    assert await store.after("s", "r1", seq(second)) == []
    assert await store.after("s", "r2", -1) is None  # never written: not resumable
    assert await store.after("other", "r1", -1) is None
    await store.forget("s")
    assert await store.after("s", "r1", -1) is None


async def test_a_stream_keeps_its_newest_events(make: Make) -> None:
    store = make(events_per_stream=3)
    written = [await store.append("s", "r", progress(n)) for n in range(5)]
    assert ids(await store.after("s", "r", -1)) == written[-3:]
    assert len(set(written)) == 5


async def test_a_session_keeps_its_newest_streams(make: Make) -> None:
    store = make(streams_per_session=2)
    for stream in ("a", "b", "c"):
        await store.append("s", stream, progress(0))
    await store.append("t", "a", progress(0))
    assert await store.after("s", "a", -1) is None
    assert len(ids(await store.after("s", "b", -1))) == len(ids(await store.after("s", "c", -1))) == 1
    assert len(ids(await store.after("t", "a", -1))) == 1  # another session's are its own


async def test_a_session_keeps_at_most_its_byte_budget_and_the_newest_events(make: Make) -> None:
    store = make(bytes_per_session=100_000)
    written = [await store.append("s", "r1", progress(n, 10_000)) for n in range(50)]
    assert 90_000 < await kept_bytes(store, "s") <= 100_000
    replayed = ids(await store.after("s", "r1", -1))
    assert replayed == written[-len(replayed) :]


async def test_old_streams_give_way_before_the_stream_being_written(make: Make) -> None:
    store = make(bytes_per_session=50_000)
    await store.append("s", "old", progress(0, 30_000))
    newest = await store.append("s", "new", progress(1, 30_000))
    assert await store.after("s", "old", -1) == []
    assert ids(await store.after("s", "new", -1)) == [newest]
    # One event over the whole budget is still kept: the stream it belongs to must resume.
    huge = await store.append("s", "new", progress(2, 80_000))
    assert ids(await store.after("s", "new", -1)) == [huge]


async def test_waiting_ends_when_the_stream_grows_or_patience_runs_out(make: Make) -> None:
    store = make()
    await store.append("s", "r", None)
    await store.after("s", "r", -1)
    began = time.monotonic()
    await store.wait("s", "r", 0.3)  # nothing new
    assert 0.25 < time.monotonic() - began < 1.5

    waiting = asyncio.create_task(store.wait("s", "r", 10))
    await asyncio.sleep(0.1)
    began = time.monotonic()
    await store.append("s", "r", progress(1))
    await asyncio.wait_for(waiting, 1)
    assert time.monotonic() - began < 1


# Replicas sharing one Redis.


async def test_a_stream_written_on_one_replica_resumes_on_another(redis_url: str) -> None:
    here = RedisEventStore(redis_url, prefix="rep:", idle_timeout=60)
    there = RedisEventStore(redis_url, prefix="rep:", idle_timeout=60)
    first = await here.append("s", "r", progress(1))
    replayed = await there.after("s", "r", -1)
    assert replayed == [(first, progress(1))]

    # `there` follows the stream live: an event from `here` wakes it at once...
    waiting = asyncio.create_task(there.wait("s", "r", 10))
    await asyncio.sleep(0.2)
    began = time.monotonic()
    second = await here.append("s", "r", progress(2))
    await asyncio.wait_for(waiting, 1)
    assert time.monotonic() - began < 1
    assert ids(await there.after("s", "r", seq(first))) == [second]
    # ...and one appended between its replay and its wait is not missed.
    third = await here.append("s", "r", progress(3))
    began = time.monotonic()
    await there.wait("s", "r", 10)
    assert time.monotonic() - began < 0.5
    assert ids(await there.after("s", "r", seq(second))) == [third]
    await here.close()
    await there.close()


async def test_ids_keep_increasing_when_a_stream_is_written_again_after_it_went(redis_url: str) -> None:
    store = RedisEventStore(redis_url, prefix="again:", idle_timeout=60, streams_per_session=1)
    for session in range(100):  # many rounds, so that some fall within one millisecond
        before = await store.append(f"s{session}", "g", progress(1))
        await store.append(f"s{session}", "r", progress(2))  # evicts g
        assert await store.after(f"s{session}", "g", -1) is None
        after = await store.append(f"s{session}", "g", progress(3))
        assert seq(after) > seq(before)  # a client resuming from `before` gets `after`
        assert ids(await store.after(f"s{session}", "g", seq(before))) == [after]
    await store.close()


async def test_records_expire_with_the_session_and_forget_deletes_them(redis_url: str) -> None:
    store = RedisEventStore(redis_url, prefix="ttl:", idle_timeout=0.6)
    for n in range(4):  # appended within the idle timeout, again and again: they stay
        await store.append("s", "r", progress(n))
        await asyncio.sleep(0.3)
    assert len(ids(await store.after("s", "r", -1))) == 4
    await asyncio.sleep(0.5)
    assert await store.after("s", "r", -1) is None

    await store.append("s", "r", progress(0))
    await store.append("s", "g", None)
    raw = redis.Redis.from_url(redis_url)
    keys = await raw.keys("ttl:*")
    assert len(keys) == 4  # the session's streams, their index and byte counts
    assert all(0 < ttl <= 600 for ttl in [await raw.pttl(key) for key in keys])
    await store.forget("s")
    assert await raw.keys("ttl:*") == []
    await raw.aclose()
    await store.close()


async def test_waiters_beyond_the_limit_sleep_their_patience(redis_url: str) -> None:
    store = RedisEventStore(redis_url, prefix="cap:", idle_timeout=60, max_waiters=1)
    await store.append("s", "r", None)
    blocking = asyncio.create_task(store.wait("s", "r", 10))
    await asyncio.sleep(0.1)
    began = time.monotonic()
    await store.wait("s", "r", 0.3)  # no connection left for it
    assert 0.25 < time.monotonic() - began < 1
    await store.append("s", "r", progress(1))
    await asyncio.wait_for(blocking, 1)
    await store.close()


async def test_the_front_resumes_on_one_replica_a_call_streaming_on_another(redis_url: str) -> None:
    """Replica A's :class:`Reply` journals a call's stream; the client drops it and resumes with
    ``Last-Event-ID`` on replica B, whose :class:`GetStreams` replays and then follows the call
    live until A sends the response."""
    here = RedisEventStore(redis_url, prefix="front:", idle_timeout=60)
    there = RedisEventStore(redis_url, prefix="front:", idle_timeout=60)
    on_a: list[dict[str, Any]] = []
    on_b: list[dict[str, Any]] = []

    async def send_a(message: dict[str, Any]) -> None:
        on_a.append(message)

    async def send_b(message: dict[str, Any]) -> None:
        on_b.append(message)

    async def never_leaves() -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    reply = Reply(send_a, [], keepalive=60, journal=Journal(here, "s"))
    await reply({"type": NOTIFICATION, "message": progress(1)})
    last_seen = body_ids(on_a)[-1]  # the client saw the progress, then lost the connection
    await reply({"type": NOTIFICATION, "message": progress(2)})  # sent while it was away

    streams = GetStreams(path="/mcp", live=LiveSessions(), events=there, keepalive=10)
    scope = {"type": "http", "headers": [(b"last-event-id", last_seen.encode())]}
    resumed = asyncio.create_task(streams.serve(scope, never_leaves, send_b, "s"))
    await asyncio.sleep(0.3)
    assert [m["params"]["progress"] for m in body_messages(on_b)] == [2]  # replayed from Redis
    began = time.monotonic()
    await reply({"type": RESPONSE, "message": {"jsonrpc": "2.0", "id": 1, "result": {}}})
    await asyncio.wait_for(resumed, 1)  # woken by A's append, and the stream is complete
    assert time.monotonic() - began < 1
    assert body_messages(on_b)[-1] == {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert body_ids(on_b) == body_ids(on_a)[1:]  # the same ids: those after the one last seen
    assert on_b[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    await here.close()
    await there.close()


def body_events(sent: list[dict[str, Any]]) -> list[dict[str, str]]:
    events = []
    for message in sent:
        for block in message.get("body", b"").decode().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if fields.get("data"):
                events.append(fields)
    return events


def body_ids(sent: list[dict[str, Any]]) -> list[str]:
    return [event["id"] for event in body_events(sent)]


def body_messages(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [orjson.loads(event["data"]) for event in body_events(sent)]


# An unreachable Redis.


async def test_an_unreachable_redis_costs_resumption_never_a_stream(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "portcullis.events")
    with redis_server(tmp_path) as url:
        port = urlsplit(url).port
        store = RedisEventStore(url, prefix="down:", idle_timeout=60, retry_after=0)
        kept = await store.append("s", "r", progress(0))
    live = [await store.append("s", "r", progress(n)) for n in (1, 2)]  # delivered, not kept
    assert seq(kept) < seq(live[0]) < seq(live[1])
    assert await store.after("s", "r", -1) is None  # the front: "cannot resume"
    began = time.monotonic()
    await store.wait("s", "r", 0.3)
    assert 0.25 < time.monotonic() - began < 1.5
    await store.forget("s")
    assert sum("event store unreachable" in r.message for r in caplog.records) == 1

    with redis_server(tmp_path, port):
        again = await store.append("s2", "r", progress(3))
        assert await store.after("s2", "r", -1) == [(again, progress(3))]
    assert sum("reachable again" in r.message for r in caplog.records) == 1
    await store.close()


async def test_redis_is_tried_again_only_after_a_pause(tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        port = urlsplit(url).port
    store = RedisEventStore(url, prefix="pause:", idle_timeout=60, retry_after=0.5)
    await store.append("s", "r", progress(0))
    with redis_server(tmp_path, port):
        await store.append("s", "r", progress(1))  # within the pause: not asked
        assert await store.after("s", "r", -1) is None
        await asyncio.sleep(0.6)
        await store.append("s", "r", progress(2))
        assert len(ids(await store.after("s", "r", -1))) == 1
    await store.close()


# The composition root's choice.


async def test_events_are_shared_exactly_when_sessions_are() -> None:
    alone = event_store(Settings.model_validate({}))
    assert isinstance(alone, InMemoryEventStore)
    shared = event_store(Settings.model_validate({"redis": {"url": "redis://127.0.0.1:1/0"}}))
    assert isinstance(shared, RedisEventStore)
    pinned = Settings.model_validate(
        {"redis": {"url": "redis://127.0.0.1:1/0"}, "sessions": {"store": "memory"}}
    )
    assert isinstance(event_store(pinned), InMemoryEventStore)
    await close_event_store(alone)
    await close_event_store(shared)
