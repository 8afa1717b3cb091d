"""Multi round-trip requests across replicas: a 2026-07-28 client's retry may land on another
gateway process than the one that answered ``input_required``. Replicas sharing the requestState
key resume the call there (replaying it with the answers already given), and a shared Redis
ledger makes each token single-use across all of them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support import RunningGateway, default_settings, free_port, running_gateway
from tests.test_modern_front import ASKING_SERVER, ask_sampling, post, retry

SHARED_KEY = "a-request-state-key-shared-by-all-replicas-0123456789"


@contextlib.contextmanager
def redis_server(tmp: Path, port: int | None = None, *options: str) -> Iterator[str]:
    """A private Redis for the test (nothing kept on disk), on ``port`` or a free one, with
    ``options`` (``--requirepass``...); its URL."""
    binary = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    assert binary, "redis-server is needed for this test (install Redis 6+, or set REDIS_SERVER=/path)"
    port = port or free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
            *options,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _listening(port), "redis-server did not start"
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def replica_settings(ledger: str) -> dict[str, Any]:
    return default_settings(
        {"asking": ASKING_SERVER},
        sessions={"request_state_key": SHARED_KEY, "request_state_ledger": ledger},
    )


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningGateway, RunningGateway, RunningGateway]]:
    tmp = Path(tmp_path_factory.mktemp("replicas"))
    with redis_server(tmp) as ledger:
        dead_ledger = f"redis://127.0.0.1:{free_port()}/0"
        (tmp / "a").mkdir()
        (tmp / "b").mkdir()
        (tmp / "c").mkdir()
        with (
            running_gateway(tmp / "a", replica_settings(ledger)) as first,
            running_gateway(tmp / "b", replica_settings(ledger)) as second,
            running_gateway(tmp / "c", replica_settings(dead_ledger)) as cut_off,
        ):
            yield first, second, cut_off


async def test_a_retry_on_another_replica_completes_the_call_without_asking_again(
    replicas: tuple[RunningGateway, RunningGateway, RunningGateway],
) -> None:
    first, second, _ = replicas
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as http:
        key, state, request = await ask_sampling(http, first)
        status, answer = await post(http, second, retry(request, key, state))
        assert status == 200, answer
        assert "result" in answer, answer
        assert answer["result"]["resultType"] == "complete"
        assert answer["result"]["content"][0]["text"] == "sampled: echo of hello"
        # The first replica hears of it and lets its parked copy go (its upstream call ends).
        async with asyncio.timeout(10):
            while "resumed on another replica; cancelled here" not in first.log():
                await asyncio.sleep(0.05)
        # The shared ledger saw it spent: the same token is refused on every replica.
        for replica in (first, second):
            _, again = await post(http, replica, retry(request, key, state, id=9))
            assert again["error"]["code"] == -32602
            assert "already used" in again["error"]["message"]


async def test_a_replica_that_cannot_reach_the_ledger_refuses_to_guess(
    replicas: tuple[RunningGateway, RunningGateway, RunningGateway],
) -> None:
    _, second, cut_off = replicas
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as http:
        key, state, request = await ask_sampling(http, second)
        _, answer = await post(http, cut_off, retry(request, key, state))
        assert answer["error"]["code"] == -32603
        assert answer["error"]["data"]["fault"] == "gateway"
        assert "cannot check requestState" in answer["error"]["message"]
        # Nothing was spent: the rightful replica still resumes it.
        _, resumed = await post(http, second, retry(request, key, state, id=3))
        assert resumed["result"]["content"][0]["text"] == "sampled: echo of hello"


async def test_replicas_sharing_only_redis_share_the_request_state_key_and_ledger(tmp_path: Path) -> None:
    """With ``[redis] url`` and nothing else, the replicas agree on the requestState key (the first
    makes it, in Redis) and use the same Redis as their ledger."""
    with redis_server(tmp_path) as url:
        settings = default_settings({"asking": ASKING_SERVER}, redis={"url": url})
        with running_gateway(tmp_path, settings) as first, running_gateway(tmp_path, settings) as second:
            async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as http:
                key, state, request = await ask_sampling(http, first)
                status, answer = await post(http, second, retry(request, key, state))
                assert status == 200 and answer["result"]["resultType"] == "complete", answer
                _, again = await post(http, first, retry(request, key, state, id=9))
                assert "already used" in again["error"]["message"]
