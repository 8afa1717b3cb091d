"""The answer cache on a private Redis shared by two replicas: a reply kept by one is served by
the other (each replica runs its own upstream process, so a fresh answer would differ), per
principal unless public, and an update heard by either replica drops it for both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest

from tests.support import BOB_KEY, RunningGateway, free_port, running_gateway
from tests.test_cache_gateway import Caller, cache_settings
from tests.test_mrtr_replicas import redis_server


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, RunningGateway]]:
    tmp = tmp_path_factory.mktemp("redis-cache")
    with redis_server(tmp) as url:
        settings = cache_settings(tmp, redis={"url": url})
        with (
            running_gateway(tmp_path_factory.mktemp("one"), settings) as one,
            running_gateway(tmp_path_factory.mktemp("two"), settings) as two,
        ):
            yield one, two


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as client:
        yield client


async def test_a_public_read_kept_by_one_replica_is_served_by_the_other(
    replicas: tuple[RunningGateway, RunningGateway], http: httpx2.AsyncClient
) -> None:
    one, two = replicas
    alice_one, bob_two = await Caller.open(http, one), await Caller.open(http, two, BOB_KEY)
    first = await alice_one.read("mem://c/counter")
    assert await bob_two.read("mem://c/counter") == first
    await bob_two.tool("c__touch", uri="mem://c/counter")  # heard by replica two only
    fresh = await alice_one.read("mem://c/counter")
    assert fresh != first


async def test_a_private_tool_result_is_shared_by_replicas_but_not_by_principals(
    replicas: tuple[RunningGateway, RunningGateway], http: httpx2.AsyncClient
) -> None:
    one, two = replicas
    alice_one, alice_two = await Caller.open(http, one), await Caller.open(http, two)
    bob_two = await Caller.open(http, two, BOB_KEY)
    first = await alice_one.tool("a__counter", n=3)
    assert await alice_two.tool("a__counter", n=3) == first
    assert await bob_two.tool("a__counter", n=3) != first


async def test_an_unreachable_redis_makes_misses_not_failures(
    tmp_path: Path, http: httpx2.AsyncClient
) -> None:
    # Sessions kept on this replica: the cache's own behaviour without Redis is what is tested
    # (shared sessions refuse with 503 then: tests/test_sessions_redis.py).
    unreachable = {"url": f"redis://127.0.0.1:{free_port()}/0"}
    settings = cache_settings(tmp_path, redis=unreachable, sessions={"store": "memory"})
    with running_gateway(tmp_path, settings) as gateway:
        alice = await Caller.open(http, gateway)
        assert await alice.read("mem://c/counter") != await alice.read("mem://c/counter")
