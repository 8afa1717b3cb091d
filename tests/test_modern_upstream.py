"""2026-07-28 ("modern") upstream servers behind the gateway, used by legacy clients: the era is
probed with server/discover, requests carry the per-request ``_meta``, input_required results
become server-to-client requests the legacy client answers, subscriptions ride one
subscriptions/listen stream, and cancellation reaches the upstream the way its transport wants.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import MCPError, types

from tests.http_fixtures import wait_for_port
from tests.support import ROOT, RunningGateway, default_settings, free_port, running_gateway, text_of
from tests.test_client_features import sampling

MODERN_SERVER = ROOT / "tests" / "fixtures" / "modern_server.py"
SERVERS = ["mstdio", "mhttp"]


@dataclass
class Logs:
    """What one fixture server process wrote: its methods and its cancellations."""

    methods: Path
    cancels: Path

    def env(self) -> dict[str, str]:
        return {"FIXTURE_METHOD_LOG": str(self.methods), "FIXTURE_CANCEL_LOG": str(self.cancels)}

    def method_lines(self) -> list[str]:
        return self.methods.read_text().splitlines() if self.methods.exists() else []

    def cancelled(self) -> int:
        return self.cancels.read_text().count("cancelled") if self.cancels.exists() else 0


def logs_in(tmp: Path, name: str) -> Logs:
    return Logs(tmp / f"{name}-methods.log", tmp / f"{name}-cancels.log")


def stdio_server(name: str, logs: Logs, *extra: str, **settings: Any) -> dict[str, Any]:
    return {
        "command": "python",
        "args": [str(MODERN_SERVER), "--name", name, *extra],
        "env": logs.env(),
        **settings,
    }


@contextlib.contextmanager
def http_server(tmp: Path, name: str, logs: Logs, *extra: str) -> Iterator[str]:
    """A modern fixture serving streamable HTTP; yields its URL."""
    port = free_port()
    log_path = tmp / f"{name}-http.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(MODERN_SERVER), "--name", name, "--http", str(port), *extra],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **logs.env()},
        )
    try:
        wait_for_port(port, process, log_path)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@dataclass
class Modern:
    gateway: RunningGateway
    logs: dict[str, Logs]


@pytest.fixture(scope="module")
def modern(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Modern]:
    tmp = Path(tmp_path_factory.mktemp("modern"))
    logs = {name: logs_in(tmp, name) for name in SERVERS}
    with http_server(tmp, "mhttp", logs["mhttp"]) as url:
        servers = {
            "mstdio": stdio_server("mstdio", logs["mstdio"], start="eager"),
            "mhttp": {"url": url, "start": "eager"},
        }
        with running_gateway(tmp, default_settings(servers)) as gateway:
            yield Modern(gateway, logs)


async def elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"answer": "forty-two"})


async def roots(context: Any) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///work/project")])


async def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# --- era ---------------------------------------------------------------------------------------


def test_the_era_is_detected_as_modern(modern: Modern) -> None:
    log = modern.gateway.log()
    for name in SERVERS:
        assert f"[{name}] speaks 2026-07-28 (server/discover)" in log
        assert f"[{name}] started" in log and "protocol 2026-07-28" in log
    stdio_methods = modern.logs["mstdio"].method_lines()
    assert stdio_methods[0] == "server/discover"
    assert "initialize" not in stdio_methods
    http_methods = modern.logs["mhttp"].method_lines()
    assert "http server/discover" in http_methods
    assert not any("initialize" in line or "+session" in line for line in http_methods)


# --- requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
async def test_a_tool_call_with_progress(modern: Modern, server: str) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with modern.gateway.client(mode="legacy") as client:
        assert text_of(await client.call_tool(f"{server}__echo", {"text": "hi"})) == f"{server}:hi"
        result = await client.call_tool(
            f"{server}__progress", {"steps": 3, "delay": 0.01}, progress_callback=on_progress
        )
        assert text_of(result) == "3 steps"
    assert [p for p, _, _ in seen] == [1, 2, 3]
    assert seen[0][1:] == (3, "step 1")


@pytest.mark.parametrize("server", SERVERS)
async def test_input_requests_become_questions_to_a_legacy_client(modern: Modern, server: str) -> None:
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with modern.gateway.client(
        mode="legacy", sampling_callback=sampling, elicitation_callback=elicitation, list_roots_callback=roots
    ) as client:
        sampled = await client.call_tool(f"{server}__ask_sampling", {"prompt": "hello"})
        assert text_of(sampled) == "sampled: echo of hello"
        assert text_of(await client.call_tool(f"{server}__ask_elicitation", {"question": "?"})) == (
            "answered: forty-two"
        )
        assert text_of(await client.call_tool(f"{server}__ask_roots", {})) == "file:///work/project"
        twice = await client.call_tool(f"{server}__ask_twice", {}, progress_callback=on_progress)
        assert text_of(twice) == "file:///work/project then forty-two"
    assert len(progress) == 3  # one per round, all under the client's own token


@pytest.mark.parametrize("server", SERVERS)
async def test_a_client_that_cannot_answer_gets_the_error(modern: Modern, server: str) -> None:
    async with modern.gateway.client(mode="legacy") as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool(f"{server}__ask_roots", {})
        assert "'roots'" in refused.value.error.message
        assert text_of(await client.call_tool(f"{server}__echo", {"text": "after"})) == f"{server}:after"


@pytest.mark.parametrize("server", SERVERS)
async def test_resources_and_prompts(modern: Modern, server: str) -> None:
    async with modern.gateway.client(mode="legacy") as client:
        uris = [str(r.uri) for r in (await client.list_resources()).resources]
        assert f"modern://{server}/counter" in uris
        read = await client.read_resource(f"modern://{server}/counter")
        first = read.contents[0]
        assert isinstance(first, types.TextResourceContents) and first.text.startswith("counter ")
        item = (await client.read_resource(f"modern://{server}/items/seven")).contents[0]
        assert isinstance(item, types.TextResourceContents) and item.text == "item seven"
        prompt = await client.get_prompt(f"{server}__greet", {"who": "ada"})
        content = prompt.messages[0].content
        assert isinstance(content, types.TextContent) and content.text == f"Hello ada from {server}"


# --- subscriptions -----------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
async def test_a_subscription_delivers_resource_updates(modern: Modern, server: str) -> None:
    uri = f"modern://{server}/counter"
    updates: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))

    async with (
        modern.gateway.client(mode="legacy", message_handler=on_message) as subscriber,
        modern.gateway.client(mode="legacy") as other,
    ):
        await subscriber.subscribe_resource(uri)
        await other.call_tool(f"{server}__touch", {"uri": uri})
        await wait_for(lambda: updates == [uri])
        await subscriber.unsubscribe_resource(uri)
        await other.call_tool(f"{server}__touch", {"uri": uri})
        await asyncio.sleep(0.3)
        assert updates == [uri]


@pytest.mark.parametrize("server", SERVERS)
async def test_list_changes_reach_legacy_clients(modern: Modern, server: str) -> None:
    changes: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changes.append("tools")

    async with modern.gateway.client(mode="legacy", message_handler=on_message) as client:
        await client.call_tool(f"{server}__add_tool", {"tool": "fresh"})
        await wait_for(lambda: bool(changes))
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert f"{server}__fresh" in names
        assert text_of(await client.call_tool(f"{server}__fresh", {})) == "added fresh"


# --- cancellation ------------------------------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
async def test_cancelling_a_call_reaches_the_upstream(modern: Modern, server: str) -> None:
    logs = modern.logs[server]
    before = logs.cancelled()
    async with modern.gateway.client(mode="legacy") as client:
        with pytest.raises(MCPError):
            await client.call_tool(f"{server}__slow", {"seconds": 30}, read_timeout_seconds=0.5)
        await wait_for(lambda: logs.cancelled() > before)
        assert text_of(await client.call_tool(f"{server}__echo", {"text": "next"})) == f"{server}:next"
    methods = logs.method_lines()
    if server == "mstdio":
        assert "notifications/cancelled" in methods  # stdio: the notification is the signal
    else:
        assert not any("notifications/cancelled" in line for line in methods)  # HTTP: closing the stream is


# --- forced eras and fallbacks -----------------------------------------------------------------


async def test_era_legacy_uses_initialize_on_a_dual_era_server(tmp_path: Path) -> None:
    logs = logs_in(tmp_path, "dual")
    settings = default_settings({"dual": stdio_server("dual", logs, era="legacy", start="eager")})
    with running_gateway(tmp_path, settings) as gateway:
        async with gateway.client(mode="legacy") as client:
            assert text_of(await client.call_tool("dual__echo", {"text": "x"})) == "dual:x"
        assert "protocol 2025-11-25" in gateway.log()
    methods = logs.method_lines()
    assert methods[0] == "initialize"
    assert "server/discover" not in methods


async def test_auto_falls_back_to_initialize_for_legacy_only_servers(tmp_path: Path) -> None:
    stdio_logs, http_logs = logs_in(tmp_path, "oldstdio"), logs_in(tmp_path, "oldhttp")
    with http_server(tmp_path, "oldhttp", http_logs, "--legacy-only") as url:
        servers = {
            "oldstdio": stdio_server("oldstdio", stdio_logs, "--legacy-only", start="eager"),
            "oldhttp": {"url": url, "start": "eager"},
        }
        with running_gateway(tmp_path, default_settings(servers)) as gateway:
            async with gateway.client(mode="legacy") as client:
                assert text_of(await client.call_tool("oldstdio__echo", {"text": "a"})) == "oldstdio:a"
                assert text_of(await client.call_tool("oldhttp__echo", {"text": "b"})) == "oldhttp:b"
            log = gateway.log()
    assert "[oldstdio] did not answer server/discover in time; using initialize" in log
    assert "[oldhttp] answered server/discover with error" in log
    assert "dropped server/discover" in stdio_logs.method_lines()
    assert "initialize" in stdio_logs.method_lines()


async def test_era_modern_against_a_legacy_only_server_fails_clearly(tmp_path: Path) -> None:
    logs = logs_in(tmp_path, "old")
    settings = default_settings({"old": stdio_server("old", logs, "--legacy-only", era="modern")})
    with running_gateway(tmp_path, settings) as gateway:
        async with gateway.client(mode="legacy") as client:
            with pytest.raises(MCPError) as failed:
                await client.call_tool("old__echo", {"text": "x"})
        message = failed.value.error.message
        assert "is not a 2026-07-28 server" in message or "is not a 2026-07-28 server" in gateway.log()
    assert "initialize" not in logs.method_lines()


async def test_modern_only_servers_work_over_both_transports(tmp_path: Path) -> None:
    stdio_logs, http_logs = logs_in(tmp_path, "newstdio"), logs_in(tmp_path, "newhttp")
    with http_server(tmp_path, "newhttp", http_logs, "--modern-only") as url:
        servers = {
            "newstdio": stdio_server("newstdio", stdio_logs, "--modern-only"),
            "newhttp": {"url": url, "era": "modern"},
        }
        with running_gateway(tmp_path, default_settings(servers)) as gateway:
            async with gateway.client(mode="legacy", sampling_callback=sampling) as client:
                for name in servers:
                    assert text_of(await client.call_tool(f"{name}__echo", {"text": "n"})) == f"{name}:n"
                    sampled = await client.call_tool(f"{name}__ask_sampling", {"prompt": "p"})
                    assert text_of(sampled) == "sampled: echo of p"
