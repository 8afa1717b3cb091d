"""Rate limits on a real Redis, in process: two stores (two replicas) share buckets and caps in
one round trip per call, a crashed replica's slots come back with their lease, and an outage
falls back to local limits with one warning, then back to Redis when it returns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway.state.redis_limits import OUTAGE, RECOVERY, RedisLimits
from middleware.authz.limit_rules import Limit
from middleware.authz.limit_store import Refusal, Slots
from tests.test_mrtr_replicas import redis_server


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


@contextlib.asynccontextmanager
async def stores(url: str, count: int = 2, **options: float) -> AsyncIterator[list[RedisLimits]]:
    started = [RedisLimits(url, prefix="test:", **options) for _ in range(count)]
    for store in started:
        await store.start()
    try:
        yield started
    finally:
        for store in started:
            await store.close()


async def test_replicas_share_one_bucket(redis_url: str) -> None:
    limit = Limit("shared", rate=0.5, burst=3)
    async with stores(redis_url) as (one, two):
        taken = [await store.acquire([(limit, "alice")]) for store in (one, two, one)]
        assert taken == [None, None, None]
        refused = await two.acquire([(limit, "alice")])
        assert isinstance(refused, Refusal) and refused.limit is limit
        assert 1.5 < refused.wait <= 2.0  # one token at 0.5/s
        assert await one.acquire([(limit, "bob")]) is None  # bob has his own
        assert not one.down and not two.down


async def test_a_refusal_by_one_rule_takes_nothing_from_another(redis_url: str) -> None:
    loose = Limit("loose", rate=1.0, burst=2)
    tight = Limit("tight", rate=0.01, burst=1)
    async with stores(redis_url, 1) as (store,):
        assert await store.acquire([(loose, "a"), (tight, "a")]) is None
        refused = await store.acquire([(loose, "a"), (tight, "a")])
        assert isinstance(refused, Refusal) and refused.limit is tight
        assert await store.acquire([(loose, "a")]) is None  # its second token is still there


async def test_replicas_share_a_cap_and_a_crashed_replicas_slots_come_back(redis_url: str) -> None:
    cap = Limit("cap", max_concurrent=2)
    async with stores(redis_url, lease=0.6) as (one, two):
        held = await one.acquire([(cap, "alice")])
        assert isinstance(held, Slots) and held.shared
        crashed = await two.acquire([(cap, "alice")])
        assert isinstance(crashed, Slots)
        refused = await one.acquire([(cap, "alice")])
        assert isinstance(refused, Refusal) and refused.concurrent and refused.limit is cap
        await one.release(held)
        again = await one.acquire([(cap, "alice")])
        assert isinstance(again, Slots)
        await two.close()  # "crashes": it never gives its slot back, nor renews it
        assert isinstance(await one.acquire([(cap, "alice")]), Refusal)
        await asyncio.sleep(1.0)  # past its lease; the slot ``one`` holds is renewed meanwhile
        assert isinstance(await one.acquire([(cap, "alice")]), Slots)
        assert isinstance(await one.acquire([(cap, "alice")]), Refusal)  # one's own slots live on


async def test_an_outage_falls_back_to_local_limits_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portcullis.rate_limits")
    limit = Limit("calls", rate=0.01, burst=2)
    with redis_server(tmp_path) as url:
        store = RedisLimits(url, prefix="test:", probe_every=0.1)
        await store.start()
        try:
            assert await store.acquire([(limit, "alice")]) is None
            await _stop_redis(url)
            outcomes = [await store.acquire([(limit, "alice")]) for _ in range(4)]
            assert store.down
            # Local counts start afresh (two tokens), and still refuse past them.
            assert outcomes[:2] == [None, None]
            assert all(isinstance(o, Refusal) for o in outcomes[2:])
            warnings = [r for r in caplog.records if OUTAGE in r.getMessage()]
            assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
        finally:
            await store.close()


def port_of(url: str) -> str:
    return str(urlsplit(url).port)


def stop_redis(url: str) -> None:
    """Stop it the way a crash would: no save, connections dropped."""
    subprocess.run(["redis-cli", "-p", port_of(url), "shutdown", "nosave"], capture_output=True, timeout=10)


async def _stop_redis(url: str) -> None:
    stop_redis(url)
    await asyncio.sleep(0.1)


async def test_the_store_goes_back_to_redis_when_it_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portcullis.rate_limits")
    limit = Limit("calls", rate=0.01, burst=1)
    port_dir = tmp_path / "redis"
    port_dir.mkdir()
    with redis_server(port_dir) as url:
        store = RedisLimits(url, prefix="test:", probe_every=0.1)
        await store.start()
        await _stop_redis(url)
        assert await store.acquire([(limit, "alice")]) is None  # local
        assert store.down
        port = port_of(url)
        again = subprocess.Popen(
            ["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(50):
                await asyncio.sleep(0.1)
                if not store.down:
                    break
            assert not store.down
            assert await store.acquire([(limit, "alice")]) is None  # Redis's bucket, not the local one
            assert isinstance(await store.acquire([(limit, "alice")]), Refusal)
            assert [r.getMessage() for r in caplog.records].count(RECOVERY) == 1
        finally:
            await store.close()
            again.terminate()
            again.wait(10)


async def test_an_error_from_a_reachable_redis_counts_the_call_locally_without_an_outage(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portcullis.rate_limits")
    limit = Limit("calls", rate=0.01, burst=1)
    async with stores(redis_url, 1) as (store,):
        await store._redis.hset("test:ratelimit:bucket:calls:alice", "not", "a string")
        outcomes = [await store.acquire([(limit, "alice")]) for _ in range(3)]
        assert outcomes[0] is None and isinstance(outcomes[1], Refusal)  # still limited, locally
        assert not store.down
        messages = [r.getMessage() for r in caplog.records]
        assert sum("refused a rate-limit script" in m for m in messages) == 1
        assert not any(OUTAGE in m for m in messages)
