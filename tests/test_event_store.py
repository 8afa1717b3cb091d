"""The in-memory event store keeps what resumption needs, within a byte budget per session."""

from __future__ import annotations

from gateway.state.memory import InMemoryEventStore


def progress(n: int, size: int) -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {"progress": n, "pad": "x" * size},
    }


async def test_a_session_keeps_at_most_its_byte_budget_and_the_newest_events() -> None:
    store = InMemoryEventStore(bytes_per_session=100_000)
    ids = [await store.append("s", "r1", progress(n, 10_000)) for n in range(50)]
    assert 90_000 < store.kept_bytes("s") <= 100_000
    replayed = await store.after("s", "r1", -1)
    assert replayed is not None
    assert [event_id for event_id, _ in replayed] == ids[-len(replayed) :]  # the newest, in order


async def test_old_streams_give_way_before_the_stream_being_written() -> None:
    store = InMemoryEventStore(bytes_per_session=50_000)
    await store.append("s", "old", progress(0, 30_000))
    newest = await store.append("s", "new", progress(1, 30_000))
    assert await store.after("s", "old", -1) == []
    assert [event_id for event_id, _ in await store.after("s", "new", -1) or []] == [newest]
    # One event over the whole budget is still kept: the stream it belongs to must resume.
    huge = await store.append("s", "new", progress(2, 80_000))
    assert [event_id for event_id, _ in await store.after("s", "new", -1) or []] == [huge]


async def test_ids_stay_unique_after_events_were_dropped() -> None:
    store = InMemoryEventStore(bytes_per_session=20_000, events_per_stream=3)
    ids = [await store.append("s", "r", progress(n, 8_000)) for n in range(10)]
    assert len(set(ids)) == 10
    await store.forget("s")
    assert store.kept_bytes("s") == 0


async def test_a_stream_dropped_for_the_bound_and_written_again_goes_on_where_it_was() -> None:
    """A client resuming from an id of the stream's first life misses nothing of its second."""
    store = InMemoryEventStore(streams_per_session=1)
    first = await store.append("s", "g", {"n": 1})
    await store.append("s", "r1", {"n": 2})  # the GET stream is dropped for the bound
    await store.append("s", "g", {"n": 3})
    seq = int(first.rpartition(".")[2])
    assert [message for _, message in await store.after("s", "g", seq) or []] == [{"n": 3}]
