"""The caches behind the real gateway: merged lists reused per server until list_changed or
their TTL, reads per the upstream's ttlMs and cacheScope, read-only tool results per principal
unless public, invalidation by upstream notifications; in memory here, on Redis in
tests/test_cache_redis.py."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from tests.support import BOB_KEY, ROOT, RunningGateway, default_settings, initialize_raw, running_gateway

CACHE_SERVER = ROOT / "tests" / "test_cache_server.py"


def cache_server(name: str, log_dir: Path, *extra: str) -> dict[str, Any]:
    log = log_dir / f"{name}.log"
    return {"command": sys.executable, "args": [str(CACHE_SERVER), "--name", name, "--log", str(log), *extra]}


def upstream_calls(log_dir: Path, name: str, method: str) -> int:
    path = log_dir / f"{name}.log"
    return path.read_text().splitlines().count(method) if path.exists() else 0


class Caller:
    """One principal's legacy session, opened by hand: plain JSON-RPC over POST."""

    def __init__(self, http: httpx2.AsyncClient, gateway: RunningGateway, key: str, session: str) -> None:
        self.http, self.gateway, self.key, self.session = http, gateway, key, session
        self._ids = iter(range(2, 1 << 30))

    @classmethod
    async def open(cls, http: httpx2.AsyncClient, gateway: RunningGateway, key: str | None = None) -> Caller:
        key = key or gateway.key
        return cls(http, gateway, key, await initialize_raw(http, gateway.url, gateway.headers(key)))

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {
            **self.gateway.headers(self.key),
            "content-type": "application/json",
            "mcp-session-id": self.session,
            "mcp-protocol-version": "2025-11-25",
        }
        message = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or {}}
        response = await self.http.post(self.gateway.url, headers=headers, content=orjson.dumps(message))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert "result" in answer, answer
        result: dict[str, Any] = answer["result"]
        return result

    async def tool(self, name: str, **arguments: Any) -> str:
        result = await self.call("tools/call", {"name": name, "arguments": arguments})
        return str(result["content"][0]["text"])

    async def read(self, uri: str) -> str:
        result = await self.call("resources/read", {"uri": uri})
        return str(result["contents"][0]["text"])

    async def tool_names(self) -> list[str]:
        return [tool["name"] for tool in (await self.call("tools/list"))["tools"]]


def cache_settings(log_dir: Path, **overrides: Any) -> dict[str, Any]:
    servers = {
        "a": cache_server("a", log_dir),
        "b": cache_server("b", log_dir, "--ttl-ms", "60000", "--scope", "private"),
        "c": cache_server("c", log_dir, "--ttl-ms", "60000", "--scope", "public"),
        "d": cache_server("d", log_dir, "--ttl-ms", "300"),
        "q": cache_server("q", log_dir, "--quiet"),
    }
    return default_settings(servers, cache={"tool_results": True}, **overrides)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("upstream-logs")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, logs: Path) -> Iterator[RunningGateway]:
    with running_gateway(tmp_path_factory.mktemp("gateway"), cache_settings(logs)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as client:
        yield client


async def test_a_merged_list_is_served_from_the_cache(
    gateway: RunningGateway, logs: Path, http: httpx2.AsyncClient
) -> None:
    alice = await Caller.open(http, gateway)
    await alice.tool_names()  # the servers start lazily: the first list asks them
    before = {s: upstream_calls(logs, s, "tools/list") for s in "abc"}
    for _ in range(5):
        names = await alice.tool_names()
    assert {"a__counter", "b__counter", "c__counter", "d__counter"} <= set(names)
    after = {s: upstream_calls(logs, s, "tools/list") for s in "abc"}
    assert (after["a"], after["c"]) == (before["a"], before["c"])
    assert after["b"] == before["b"] + 5  # b says its lists are private: never shared


async def test_list_changed_makes_only_that_servers_list_stale(
    gateway: RunningGateway, logs: Path, http: httpx2.AsyncClient
) -> None:
    alice = await Caller.open(http, gateway)
    await alice.tool_names()
    before = {s: upstream_calls(logs, s, "tools/list") for s in "abc"}
    await alice.tool("b__add_tool")  # announces list_changed before it answers
    names = await alice.tool_names()
    assert any(name.startswith("b__extra") for name in names)
    after = {s: upstream_calls(logs, s, "tools/list") for s in "abc"}
    assert after["b"] > before["b"]
    assert (after["a"], after["c"]) == (before["a"], before["c"])


async def test_a_list_goes_stale_after_the_ttl_the_server_stated(
    gateway: RunningGateway, logs: Path, http: httpx2.AsyncClient
) -> None:
    alice = await Caller.open(http, gateway)
    await alice.tool_names()
    before = upstream_calls(logs, "d", "tools/list")
    time.sleep(0.4)  # d says its lists are fresh for 300 ms
    await alice.tool_names()
    assert upstream_calls(logs, "d", "tools/list") == before + 1


async def test_a_silent_change_shows_within_the_unannounced_ttl(
    gateway: RunningGateway, http: httpx2.AsyncClient
) -> None:
    alice = await Caller.open(http, gateway)
    await alice.tool("q__add_tool")  # q announces nothing: only a short TTL makes it show
    deadline = time.monotonic() + 5
    while not any(n.startswith("q__extra") for n in await alice.tool_names()):
        assert time.monotonic() < deadline, "a silent change never showed"
        time.sleep(0.2)


async def test_a_read_without_ttl_is_not_cached(gateway: RunningGateway, http: httpx2.AsyncClient) -> None:
    alice = await Caller.open(http, gateway)
    assert await alice.read("mem://a/counter") != await alice.read("mem://a/counter")


async def test_a_private_read_is_kept_per_principal(
    gateway: RunningGateway, http: httpx2.AsyncClient
) -> None:
    alice, bob = await Caller.open(http, gateway), await Caller.open(http, gateway, BOB_KEY)
    first = await alice.read("mem://b/counter")
    assert await alice.read("mem://b/counter") == first
    bobs = await bob.read("mem://b/counter")
    assert bobs != first
    assert await bob.read("mem://b/counter") == bobs


async def test_a_public_read_is_shared_until_the_resource_is_updated(
    gateway: RunningGateway, http: httpx2.AsyncClient
) -> None:
    alice, bob = await Caller.open(http, gateway), await Caller.open(http, gateway, BOB_KEY)
    first = await alice.read("mem://c/counter")
    assert await bob.read("mem://c/counter") == first
    await alice.tool("c__touch", uri="mem://c/counter")  # resources/updated before it answers
    fresh = await bob.read("mem://c/counter")
    assert fresh != first
    assert await alice.read("mem://c/counter") == fresh


async def test_read_only_tool_results_are_kept_per_principal(
    gateway: RunningGateway, http: httpx2.AsyncClient
) -> None:
    alice, bob = await Caller.open(http, gateway), await Caller.open(http, gateway, BOB_KEY)
    first = await alice.tool("a__counter", n=1)
    assert await alice.tool("a__counter", n=1) == first
    assert await alice.tool("a__counter", n=2) != first  # other arguments, other answer
    assert await bob.tool("a__counter", n=1) != first
    shared = await alice.tool("a__public_counter")
    assert await bob.tool("a__public_counter") == shared


async def test_writes_and_errors_are_never_kept(gateway: RunningGateway, http: httpx2.AsyncClient) -> None:
    alice = await Caller.open(http, gateway)
    assert await alice.tool("a__writer") != await alice.tool("a__writer")
    failed = await alice.call("tools/call", {"name": "a__failing", "arguments": {}})
    again = await alice.call("tools/call", {"name": "a__failing", "arguments": {}})
    assert failed["isError"] and again["isError"]
    assert failed["content"] != again["content"]


async def test_tool_results_go_when_the_server_changes_its_tools(
    gateway: RunningGateway, http: httpx2.AsyncClient
) -> None:
    alice = await Caller.open(http, gateway)
    first = await alice.tool("a__counter", n=7)
    assert await alice.tool("a__counter", n=7) == first
    await alice.tool("a__add_tool")
    assert await alice.tool("a__counter", n=7) != first


async def test_without_a_list_ttl_every_list_asks_again(tmp_path: Path, http: httpx2.AsyncClient) -> None:
    settings = default_settings({"a": cache_server("a", tmp_path)}, cache={"lists": False})
    with running_gateway(tmp_path, settings) as gateway:
        alice = await Caller.open(http, gateway)
        before = upstream_calls(tmp_path, "a", "tools/list")
        await alice.tool_names()
        await alice.tool_names()
        assert upstream_calls(tmp_path, "a", "tools/list") == before + 2
