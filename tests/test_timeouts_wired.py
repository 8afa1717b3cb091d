"""Operation types counted by the layers that run them: plugin hooks (``guardrail``) and the
answer cache's Redis round trips (``cache``) and upstream connects (``connectivity``),
timeouts included."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.state import redis_cache
from gateway.state.redis_cache import RedisResultStore
from middleware.plugins import PluginManager, Plugins
from middleware.protocol import RESPONSE, MCPScope, Receive, Send, result_message
from middleware.protocol.operations import OperationStats
from middleware.protocol.testing import call, make_test_scope
from tests.test_mrtr_replicas import redis_server

FIXTURES = "tests.fixtures.sample_plugins"


async def answered(scope: MCPScope, receive: Receive, send: Send) -> None:
    await send({"type": RESPONSE, "message": result_message(scope["id"], {"content": []})})


def hooked(tmp_path: Path, kind: str, stats: OperationStats, monkeypatch: pytest.MonkeyPatch) -> Plugins:
    path = tmp_path / "plugins.yaml"
    path.write_text(
        textwrap.dedent(f"""
            plugins: [{{name: p, kind: {FIXTURES}.{kind}, hooks: [tool_pre_invoke]}}]
            plugin_settings: {{plugin_timeout: 0.1}}
            """)
    )
    monkeypatch.setattr(Plugins, "stats", stats)
    return Plugins(answered, PluginManager.from_file(path).executor)


async def test_each_hook_run_counts_as_a_guardrail_operation_and_a_hung_plugin_as_a_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats = OperationStats()
    quick = hooked(tmp_path, "Record", stats, monkeypatch)
    assert stats.snapshot()["guardrail"]["timeout"] == 0.1  # reported from the start: zeros mean none ran
    await call(quick, make_test_scope("tools/call", {"name": "files__read"}))
    hung = hooked(tmp_path, "Hangs", stats, monkeypatch)
    [refused] = await call(hung, make_test_scope("tools/call", {"name": "files__read"}))
    assert "PLUGIN_ERROR" in refused["message"]["result"]["content"][0]["text"]
    guardrail = stats.snapshot()["guardrail"]
    assert (guardrail["operations"], guardrail["timeouts"]) == (2, 1)


@pytest.fixture
def cache_stats(monkeypatch: pytest.MonkeyPatch) -> OperationStats:
    stats = OperationStats()
    monkeypatch.setattr(redis_cache, "OPERATIONS", stats)
    return stats


async def test_a_redis_lookup_and_store_are_cache_operations(
    tmp_path: Path, cache_stats: OperationStats
) -> None:
    with redis_server(tmp_path) as url:
        store = RedisResultStore(url, prefix="t:", max_ttl=60)
        assert cache_stats.snapshot()["cache"]["operations"] == 0
        await store.put("g", "f", b"{}", 30)
        assert await store.get("g", ["f"]) is not None
        await store.close()
    cache = cache_stats.snapshot()["cache"]
    assert (cache["operations"], cache["timeouts"], cache["timeout"]) == (2, 0, 1.0)


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP port that accepts and never answers (a Redis that hangs)."""
    held: list[Any] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()


async def test_a_redis_that_does_not_answer_is_a_miss_and_a_cache_timeout(
    silent_port: int, cache_stats: OperationStats
) -> None:
    store = RedisResultStore(f"redis://127.0.0.1:{silent_port}/0", prefix="t:", max_ttl=60)
    assert await store.get("g", ["f"]) is None  # a miss, never a failed call
    await store.close()
    cache = cache_stats.snapshot()["cache"]
    assert (cache["operations"], cache["timeouts"]) == (1, 1)


async def test_each_upstream_connect_counts_as_connectivity_and_a_silent_server_as_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gateway.parts import server_specs
    from gateway.settings import Settings
    from tests.support import fixture_server
    from upstream.errors import UpstreamError
    from upstream.pool import supervisor
    from upstream.transports.reaper import Reaper

    stats = OperationStats()
    monkeypatch.setattr(supervisor, "OPERATIONS", stats)
    silent = {"command": "python", "args": ["-c", "import time; time.sleep(30)"], "startup_timeout": 0.5}
    settings = Settings(servers={"good": fixture_server("good"), "silent": silent})
    reaper = Reaper()
    good, hung = server_specs(settings, reaper)
    connection = await supervisor.open_connection(good, {"name": "t", "version": "1"}, lambda *_: None)
    await connection.close()
    with pytest.raises(UpstreamError, match=r"handshake within 0\.5s"):
        await supervisor.open_connection(hung, {"name": "t", "version": "1"}, lambda *_: None)
    await reaper.stop()
    connectivity = stats.snapshot()["connectivity"]
    assert (connectivity["operations"], connectivity["timeouts"]) == (2, 1)
