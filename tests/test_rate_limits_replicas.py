"""Two gateway processes on one real Redis count against one limit; when Redis dies each falls
back to local limits (still refusing) and says so once, and shares counts again when it returns."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from gateway.state.redis_limits import OUTAGE, RECOVERY
from tests.support import RunningGateway, default_settings, fixture_server, running_gateway
from tests.test_mrtr_replicas import redis_server
from tests.test_rate_limits_gateway import modern_call, refused_by
from tests.test_rate_limits_redis import port_of, stop_redis

BURST = 4
RULE = {"name": "shared-echo", "tools": ["echo"], "rate": "1/min", "burst": BURST}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(Path(tmp_path_factory.mktemp("redis"))) as url:
        yield url


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[tuple[RunningGateway, RunningGateway]]:
    tmp = Path(tmp_path_factory.mktemp("replicas"))
    settings = default_settings(
        {"alpha": fixture_server("alpha")}, redis={"url": redis_url}, rate_limits=[RULE]
    )
    with running_gateway(tmp, settings) as one, running_gateway(tmp, settings) as two:
        yield one, two


async def echo(http: httpx2.AsyncClient, gateway: RunningGateway) -> str | None:
    return refused_by(await modern_call(http, gateway, "alpha__echo", text="hi"))


async def wait_for_log(gateways: tuple[RunningGateway, ...], text: str) -> None:
    for _ in range(100):
        if all(text in gateway.log() for gateway in gateways):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} never logged")


async def test_replicas_share_a_bucket_and_survive_an_outage(
    replicas: tuple[RunningGateway, RunningGateway], redis_url: str, tmp_path: Path
) -> None:
    one, two = replicas
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as http:
        # Shared: calls to both count against one bucket of BURST.
        outcomes = [await echo(http, gateway) for gateway in (one, two) * (BURST // 2)]
        assert outcomes == [None] * BURST
        assert await echo(http, one) == "shared-echo"
        assert await echo(http, two) == "shared-echo"

        # Redis dies: each replica counts on its own (a fresh local bucket), and still refuses.
        port = port_of(redis_url)
        stop_redis(redis_url)
        for gateway in (one, two):
            local = [await echo(http, gateway) for _ in range(BURST + 2)]
            assert local == [None] * BURST + ["shared-echo"] * 2
            assert gateway.log().count(OUTAGE) == 1

        # Redis returns (empty): both go back to it and share a fresh bucket.
        again = subprocess.Popen(
            ["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )
        try:
            await wait_for_log(replicas, RECOVERY)
            outcomes = [await echo(http, gateway) for gateway in (one, two) * (BURST // 2)]
            assert outcomes == [None] * BURST
            assert await echo(http, two) == "shared-echo"
            for gateway in (one, two):
                assert gateway.log().count(OUTAGE) == 1 and gateway.log().count(RECOVERY) == 1
        finally:
            again.terminate()
            again.wait(10)
