"""Merged lists behind the real gateway: bounded memory, names owned by one server, lazy servers
that do not stall the list, and initialize with the instructions of servers that start in time."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from tests.support import ROOT, RunningGateway, default_settings, initialize_raw, running_gateway
from tests.test_modern_front import post, request

PLAIN_SERVER = ROOT / "tests" / "fixtures" / "plain_server.py"


def plain_server(name: str, *extra: str, **settings: Any) -> dict[str, Any]:
    return {"command": sys.executable, "args": [str(PLAIN_SERVER), "--name", name, *extra], **settings}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Session:
    """A legacy session opened by hand: plain JSON-RPC over POST."""

    def __init__(self, http: httpx2.AsyncClient, gateway: RunningGateway, session_id: str) -> None:
        self.http, self.gateway, self.id = http, gateway, session_id
        self._ids = iter(range(2, 1 << 30))

    def headers(self) -> dict[str, str]:
        return {
            **self.gateway.headers(),
            "content-type": "application/json",
            "mcp-session-id": self.id,
            "mcp-protocol-version": "2025-11-25",
        }

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        message = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or {}}
        response = await self.http.post(
            self.gateway.url, headers=self.headers(), content=orjson.dumps(message)
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as client:
        yield client


async def open_session(http: httpx2.AsyncClient, gateway: RunningGateway) -> Session:
    return Session(http, gateway, await initialize_raw(http, gateway.url, gateway.headers()))


async def walk(session: Session) -> list[str]:
    """Every tool name, following the gateway's cursors to the end."""
    names: list[str] = []
    params: dict[str, Any] = {}
    while True:
        result = (await session.call("tools/list", params))["result"]
        names += [tool["name"] for tool in result["tools"]]
        if "nextCursor" not in result:
            return names
        params = {"cursor": result["nextCursor"]}


async def test_listing_a_big_server_again_and_again_does_not_grow_memory(
    tmp_path: Path, http: httpx2.AsyncClient
) -> None:
    settings = default_settings({"big": plain_server("big", "--tools", "20000")})
    with running_gateway(tmp_path, settings) as gateway:
        session = await open_session(http, gateway)
        first = await session.call("tools/list")
        assert len(first["result"]["tools"]) == 100
        after_first = rss_kib(gateway.process.pid)
        for _ in range(19):
            assert "nextCursor" in (await session.call("tools/list"))["result"]
        grown_mib = (rss_kib(gateway.process.pid) - after_first) / 1024
        # One snapshot per list version: before, each first page kept its own (~60 MiB each).
        assert grown_mib < 40, f"RSS grew by {grown_mib:.0f} MiB over 19 lists"
        names = await walk(session)
        assert len(names) == 20000
        assert set(names) == {f"big__tool{i}" for i in range(20000)}


async def test_a_cursor_whose_list_is_gone_is_refused_with_a_clear_error(
    tmp_path: Path, http: httpx2.AsyncClient
) -> None:
    settings = default_settings({"alpha": plain_server("alpha", "--tools", "10")}, routing={"page_size": 4})
    with running_gateway(tmp_path, settings) as gateway:
        session = await open_session(http, gateway)
        cursor = (await session.call("tools/list"))["result"]["nextCursor"]
        # The same cursor from a previous run of the gateway (its versions restart at 1).
        with running_gateway(tmp_path, settings) as other:
            stranger = await open_session(http, other)
            refused = await stranger.call("tools/list", {"cursor": cursor})
        assert refused["error"]["code"] == -32602
        assert "list again from the start" in refused["error"]["message"]
        assert refused["error"]["data"]["fault"] == "client"
        assert len(await walk(session)) == 10


async def test_a_server_without_prefix_cannot_take_names_in_anothers_namespace(
    tmp_path: Path, http: httpx2.AsyncClient
) -> None:
    servers = {
        # Listed first, as the impostor was when it won.
        "impostor": plain_server(
            "impostor", "--tool", "echo__fetch", "--tool", "echo__other", "--tool", "mine", prefix=""
        ),
        "echo": plain_server("echo", "--tool", "fetch"),
        "twin": plain_server("twin", "--tool", "mine", prefix=""),
    }
    with running_gateway(tmp_path, default_settings(servers)) as gateway:
        session = await open_session(http, gateway)
        for _ in range(2):
            listed = {tool["name"] for tool in (await session.call("tools/list"))["result"]["tools"]}
            assert listed == {"echo__fetch"}
        called = await session.call("tools/call", {"name": "echo__fetch", "arguments": {}})
        assert called["result"]["content"][0]["text"] == "echo:fetch"
        for name, why in (("echo__other", "namespace of server 'echo'"), ("mine", "offered by servers")):
            refused = await session.call("tools/call", {"name": name, "arguments": {}})
            assert why in refused["error"]["message"], refused
            assert refused["error"]["data"]["fault"] == "policy"
        log = gateway.log()
        assert log.count("name collision refused: tool 'echo__fetch'") == 1
        assert log.count("name collision refused: tool 'mine'") == 1


async def wait_for_list_changed(http: httpx2.AsyncClient, session: Session, timeout: float) -> None:
    headers = {k: v for k, v in session.headers().items() if k != "content-type"}
    async with asyncio.timeout(timeout), http.stream("GET", session.gateway.url, headers=headers) as stream:
        assert stream.status_code == 200
        async for line in stream.aiter_lines():
            if line.startswith("data:") and "notifications/tools/list_changed" in line:
                return


async def test_a_slow_server_does_not_stall_the_first_list(tmp_path: Path, http: httpx2.AsyncClient) -> None:
    servers = {
        "slow": plain_server("slow", "--tool", "late", "--init-delay", "5", "--instructions", "Slow."),
        "quick": plain_server("quick", "--tool", "now", "--instructions", "Quick."),
    }
    settings = default_settings(servers, routing={"start_patience": 1.0})
    with running_gateway(tmp_path, settings) as gateway:
        started = time.monotonic()
        response = await http.post(
            gateway.url,
            headers={**gateway.headers(), "content-type": "application/json"},
            content=orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "t"},
                    },
                }
            ),
        )
        assert time.monotonic() - started < 2.5
        # The lazily started quick server was started by initialize and made it in time.
        assert response.json()["result"]["instructions"] == "[quick] Quick."
        session = Session(http, gateway, response.headers["mcp-session-id"])
        changed = asyncio.create_task(wait_for_list_changed(http, session, 20))
        started = time.monotonic()
        first = (await session.call("tools/list"))["result"]
        assert time.monotonic() - started < 2
        assert [tool["name"] for tool in first["tools"]] == ["quick__now"]
        status, modern = await post(http, gateway, request("tools/list"))
        assert status == 200 and modern["result"]["ttlMs"] == 0  # partial: no long promise
        await changed
        later = (await session.call("tools/list"))["result"]
        assert [tool["name"] for tool in later["tools"]] == ["slow__late", "quick__now"]
