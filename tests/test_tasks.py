"""Task-augmented tools/call and tasks/* pass through, with task ids mapped and owned."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support import BOB_KEY, ROOT, RunningGateway, default_settings, initialize_raw, running_gateway

TASK_SERVER = {"command": "python", "args": [str(ROOT / "tests" / "fixtures" / "task_server.py")]}


@pytest.fixture(scope="module")
def tasks_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = default_settings({"kitchen": TASK_SERVER})
    with running_gateway(Path(tmp_path_factory.mktemp("tasks")), settings) as running:
        yield running


class Session:
    def __init__(self, http: httpx2.AsyncClient, gateway: RunningGateway, key: str | None = None) -> None:
        self.http, self.gateway, self.key = http, gateway, key
        self.headers: dict[str, str] = {}
        self.ids = iter(range(100, 10_000))

    async def open(self) -> Session:
        headers = self.gateway.headers(self.key)
        session = await initialize_raw(self.http, self.gateway.url, headers)
        self.headers = {**headers, "content-type": "application/json", "mcp-session-id": session}
        return self

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params}
        response = await self.http.post(self.gateway.url, headers=self.headers, json=body)
        assert response.status_code == 200, response.text
        message: dict[str, Any] = response.json()
        return message


async def test_a_task_runs_to_its_result_under_a_gateway_id(tasks_gateway: RunningGateway) -> None:
    async with httpx2.AsyncClient(timeout=20) as http:
        alice = await Session(http, tasks_gateway).open()
        created = await alice.call(
            "tools/call",
            {"name": "kitchen__brew", "arguments": {"flavour": "oolong"}, "task": {"ttl": 60000}},
        )
        task = created["result"]["task"]
        assert task["status"] == "working"
        task_id = task["taskId"]
        assert len(task_id) >= 32  # the gateway's own, unguessable id, not the upstream's uuid
        assert not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", task_id)

        result = await alice.call("tasks/result", {"taskId": task_id})
        assert result["result"]["content"][0]["text"] == "brewed oolong"
        assert result["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"] == task_id
        status = await alice.call("tasks/get", {"taskId": task_id})
        assert status["result"]["status"] == "completed"
        assert status["result"]["taskId"] == task_id
        listed = await alice.call("tasks/list", {})
        assert [t["taskId"] for t in listed["result"]["tasks"]] == [task_id]


async def test_another_principals_task_is_unknown(tasks_gateway: RunningGateway) -> None:
    async with httpx2.AsyncClient(timeout=20) as http:
        alice = await Session(http, tasks_gateway).open()
        bob = await Session(http, tasks_gateway, BOB_KEY).open()
        created = await alice.call(
            "tools/call", {"name": "kitchen__brew", "arguments": {"seconds": 5}, "task": {"ttl": 60000}}
        )
        task_id = created["result"]["task"]["taskId"]
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            refused = await bob.call(method, {"taskId": task_id})
            assert refused["error"]["code"] == -32602
        assert task_id not in [t["taskId"] for t in (await bob.call("tasks/list", {}))["result"]["tasks"]]
        cancelled = await alice.call("tasks/cancel", {"taskId": task_id})
        assert cancelled["result"]["status"] == "cancelled"
        unknown = await alice.call("tasks/get", {"taskId": "not-a-task"})
        assert unknown["error"]["code"] == -32602


async def test_status_notifications_reach_the_tasks_owner(tasks_gateway: RunningGateway) -> None:
    async with httpx2.AsyncClient(timeout=20) as http:
        alice = await Session(http, tasks_gateway).open()
        statuses: list[dict[str, Any]] = []

        async def listen() -> None:
            headers = {**alice.headers, "accept": "text/event-stream"}
            async with http.stream("GET", tasks_gateway.url, headers=headers) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data:") and "tasks/status" in line:
                        statuses.append(json.loads(line[5:])["params"])
                        return

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.2)
        created = await alice.call(
            "tools/call", {"name": "kitchen__brew", "arguments": {"seconds": 0.2}, "task": {"ttl": 60000}}
        )
        await asyncio.wait_for(listener, 10)
        assert statuses[0]["taskId"] == created["result"]["task"]["taskId"]
        assert statuses[0]["status"] == "completed"


async def test_a_server_cancelling_its_own_request_reaches_the_client(tasks_gateway: RunningGateway) -> None:
    """Cancellation flows back too: the client hears of it under the id it was asked with."""
    async with httpx2.AsyncClient(timeout=20) as http:
        headers = tasks_gateway.headers()
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"sampling": {}},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        }
        opened = await http.post(
            tasks_gateway.url, headers={**headers, "content-type": "application/json"}, json=initialize
        )
        session = opened.headers["mcp-session-id"]
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "kitchen__ask_then_cancel"},
        }
        events: list[dict[str, Any]] = []
        async with http.stream(
            "POST",
            tasks_gateway.url,
            headers={**headers, "content-type": "application/json", "mcp-session-id": session},
            json=call,
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:") and line[5:].strip():
                    events.append(json.loads(line[5:]))
    asked, cancelled, answer = events
    assert asked["method"] == "sampling/createMessage"
    assert asked["id"] != "ask-1"  # the gateway's id, not the upstream's
    assert cancelled["method"] == "notifications/cancelled"
    assert cancelled["params"]["requestId"] == asked["id"]
    assert answer["result"]["content"][0]["text"] == "changed my mind"
