"""The caches' parts in process: list freshness, the LRU store, and the answer cache middleware."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from gateway.caching import Caching
from gateway.settings import Settings
from gateway.state.redis_cache import RedisResultStore
from middleware.cache.results import Lifetimes, ResultCache, Target
from middleware.cache.store import MemoryResultStore, read_group, tools_group
from middleware.protocol import RESPONSE, VARIES_BY_PRINCIPAL, Principal, Receive, Scope, Send
from middleware.protocol.testing import call, make_test_scope
from upstream.routing.cache_hints import CacheHints
from upstream.routing.catalog import PROMPTS, TOOLS
from upstream.routing.freshness import Freshness


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_list_is_fresh_for_the_ttl_the_server_stated_else_the_configured_one() -> None:
    clock = Clock()
    fresh = Freshness(30.0, max_ttl=600.0, clock=clock)
    assert fresh.stale(TOOLS, ["a", "b"]) == ["a", "b"]
    fresh.fetched("a", TOOLS, None)
    fresh.fetched("b", TOOLS, 2_000)
    clock.now += 1.5
    assert fresh.stale(TOOLS, ["a", "b"]) == []
    assert fresh.age_ms("b", TOOLS) == 1500
    clock.now += 1.0
    assert fresh.stale(TOOLS, ["a", "b"]) == ["b"]
    clock.now += 30.0
    assert fresh.stale(TOOLS, ["a", "b"]) == ["a", "b"]
    assert fresh.counts.hits["tools/list"] == 3 and fresh.counts.misses["tools/list"] == 5


def test_zero_ttl_changes_and_per_client_servers_are_never_reused() -> None:
    fresh = Freshness(30.0, max_ttl=600.0, private={"p"}.__contains__)
    fresh.fetched("zero", TOOLS, 0)
    fresh.fetched("p", TOOLS, None)
    fresh.fetched("a", TOOLS, None)
    fresh.fetched("a", PROMPTS, None)
    assert fresh.stale(TOOLS, ["zero", "p", "a"]) == ["zero", "p"]
    fresh.invalidate("a", ["tools/list"])
    assert fresh.stale(TOOLS, ["a"]) == ["a"]
    assert fresh.stale(PROMPTS, ["a"]) == []
    assert Freshness(30.0, max_ttl=1.0).stale(TOOLS, ["x"]) == ["x"]


def test_a_server_that_does_not_announce_changes_is_asked_again_sooner() -> None:
    clock = Clock()
    fresh = Freshness(30.0, max_ttl=600.0, unannounced_ttl=1.0, clock=clock)
    fresh.fetched("quiet", TOOLS, None, announced=False)
    fresh.fetched("loud", TOOLS, None, announced=True)
    clock.now += 1.5
    assert fresh.stale(TOOLS, ["quiet", "loud"]) == ["quiet"]


async def test_the_memory_store_expires_evicts_and_drops_by_group() -> None:
    clock = Clock()
    store = MemoryResultStore(max_entries=3, max_bytes=1_000, clock=clock)
    await store.put(read_group("s", "u"), "f1", b"one", 10)
    await store.put(read_group("s", "u"), "f2", b"two", 1)
    assert await store.get(read_group("s", "u"), ["nope", "f2"]) == (b"two", 1.0)
    clock.now += 2
    assert await store.get(read_group("s", "u"), ["f2"]) is None
    assert await store.get(read_group("s", "u"), ["f1"]) == (b"one", 8.0)
    for n in range(3):
        await store.put(tools_group("t"), f"k{n}", b"x" * 10, 10)
    assert len(store) == 3 and await store.get(read_group("s", "u"), ["f1"]) is None  # least recent
    await store.put(tools_group("t"), "big", b"x" * 995, 10)
    assert store.bytes <= 1_000
    await store.drop(tools_group("t"))
    assert len(store) == 0 and store.bytes == 0
    await store.put(tools_group("t"), "k", b"1", 10)
    await store.put(tools_group("other"), "k", b"1", 10)
    assert await store.clear("t") == 1 and len(store) == 1


class Upstream:
    """Answers with a counter, and whatever ``extra`` says."""

    def __init__(self, **extra: Any) -> None:
        self.calls, self.extra = 0, extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        result = {"content": [{"type": "text", "text": str(self.calls)}], **self.extra}
        await send({"type": RESPONSE, "message": {"jsonrpc": "2.0", "id": scope["id"], "result": result}})


def cache(upstream: Upstream, *, shared: bool = True, read_ttl: float = 60.0) -> ResultCache:
    async def resolve(scope: Scope, list_method: str, key: str) -> Target | None:
        definition = {"annotations": {"readOnlyHint": True, "idempotentHint": True}}
        return Target("s", key, shared, definition if key != "write" else {})

    lifetimes = Lifetimes(read_ttl=read_ttl, tool_results=True)
    return ResultCache(
        upstream,
        store=MemoryResultStore(max_entries=10, max_bytes=10_000),
        resolve=resolve,
        lifetimes=lifetimes,
    )


async def answer(app: ResultCache, method: str, params: dict[str, Any], who: str = "alice") -> Any:
    events = await call(app, make_test_scope(method, params, principal=Principal(who)))
    return events[-1]["message"]["result"]


async def test_errors_writes_and_retries_with_input_are_never_kept() -> None:
    failing = Upstream(isError=True)
    app = cache(failing)
    await answer(app, "tools/call", {"name": "t"})
    await answer(app, "tools/call", {"name": "t"})
    assert failing.calls == 2
    plain = Upstream()
    app = cache(plain)
    for params in ({"name": "write"}, {"name": "t", "requestState": "x"}, {"name": "t", "task": {}}):
        await answer(app, "tools/call", params)
    assert plain.calls == 3
    assert app.counts.hits == {}


async def test_a_stated_ttl_wins_and_zero_means_not_kept() -> None:
    upstream = Upstream(ttlMs=0)
    app = cache(upstream)
    await answer(app, "resources/read", {"uri": "u"})
    await answer(app, "resources/read", {"uri": "u"})
    assert upstream.calls == 2
    upstream = Upstream(ttlMs=5_000)
    app = cache(upstream, read_ttl=0.0)
    await answer(app, "resources/read", {"uri": "u"})
    again = await answer(app, "resources/read", {"uri": "u"})
    assert upstream.calls == 1 and 0 < again["ttlMs"] <= 5_000


async def test_public_answers_are_shared_but_say_private_when_the_caller_mattered() -> None:
    upstream = Upstream(cacheScope="public", ttlMs=60_000)
    app = cache(upstream)
    await answer(app, "resources/read", {"uri": "u"}, "alice")
    scope = make_test_scope("resources/read", {"uri": "u"}, principal=Principal("bob"))
    scope["state"][VARIES_BY_PRINCIPAL] = True
    events = await call(app, scope)
    assert upstream.calls == 1
    assert events[-1]["message"]["result"]["cacheScope"] == "private"


async def test_private_answers_and_per_client_servers_are_not_shared() -> None:
    upstream = Upstream(cacheScope="private", ttlMs=60_000)
    app = cache(upstream)
    assert await answer(app, "resources/read", {"uri": "u"}, "alice") != await answer(
        app, "resources/read", {"uri": "u"}, "bob"
    )
    per_client = Upstream(cacheScope="public", ttlMs=60_000)
    app = cache(per_client, shared=False)
    await answer(app, "resources/read", {"uri": "u"})
    await answer(app, "resources/read", {"uri": "u"})
    assert per_client.calls == 2


def test_a_reused_list_promises_only_what_is_left_of_its_ttl() -> None:
    supervisor = SimpleNamespace(spec=SimpleNamespace(per_client=False), identity=None)
    ages = {"a": 1_500}
    hints = CacheHints(cast(Any, {"a": supervisor}), age_ms=lambda server, kind: ages[server])
    assert hints.saw_list("a", TOOLS, {"tools": [], "ttlMs": 2_000, "cacheScope": "public"}) == 2_000
    scope = make_test_scope("tools/list")
    assert hints.for_list(TOOLS, ["a"], scope) == {"ttlMs": 500, "cacheScope": "public"}
    ages["a"] = 5_000
    scope["state"][VARIES_BY_PRINCIPAL] = True
    assert hints.for_list(TOOLS, ["a"], scope) == {"ttlMs": 0, "cacheScope": "private"}


async def test_the_composition_picks_the_store_and_reports_counts() -> None:
    caching = Caching(Settings())
    assert isinstance(caching.store, MemoryResultStore)
    await caching.store.put(tools_group("s"), "k", b"{}", 10)
    caching.results.count(caching.results.hits, "tools/call")
    status = caching.status()
    assert status["backend"] == "memory" and status["entries"] == 1
    assert caching.counts() == {("tools/call", "hit"): 1}
    assert await caching.clear_cache(None, "results") == {
        "cleared": 1,
        "server": None,
        "cache_type": "results",
    }
    shared = Caching(Settings(redis={"url": "redis://127.0.0.1:1/0"}))
    assert isinstance(shared.store, RedisResultStore)
    assert await shared.store.get(tools_group("s"), ["k"]) is None  # unreachable: a miss
    await shared.close()
