"""Upstream servers crash, hang, get cancelled or never start: clients get a clear, fast answer,
the gateway restarts what it can, and every other server keeps serving."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from mcp import MCPError

from tests.support import (
    BOB_KEY,
    ROOT,
    RunningGateway,
    default_settings,
    fixture_server,
    initialize_raw,
    pid_alive,
    pid_of,
    running_gateway,
    text_of,
)

pytestmark = pytest.mark.timeout(90)

UPSTREAM_UNAVAILABLE = -32012
REQUEST_TIMEOUT = -32001
REQUEST_CANCELLED = -32800
PROTOCOL_VERSION = "2025-11-25"
QUICK_RESTART = {"backoff_initial": 0.05, "backoff_max": 0.2}


def cancellations(log: Path) -> int:
    """How many calls the fixture server saw cancelled (lines in its $FIXTURE_CANCEL_LOG)."""
    return log.read_text().count("cancelled") if log.exists() else 0


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


def cancel_log_of(gateway: RunningGateway) -> Path:
    path: Path = gateway.extra["cancel_log"]
    return path


def gateway_with_cancel_log(tmp: Path, timeout: float) -> Iterator[RunningGateway]:
    cancel_log = tmp / "alpha-cancelled.log"
    settings = default_settings(
        {
            # Eager: a lazy start on the first call would count against a 1 s deadline.
            "alpha": fixture_server(
                "alpha", env={"FIXTURE_CANCEL_LOG": str(cancel_log)}, restart=QUICK_RESTART, start="eager"
            ),
            "beta": fixture_server("beta", "--tools-only", start="eager"),
        },
        middleware=[{"use": "middleware.timeouts:Timeouts", "options": {"default": timeout}}],
    )
    with running_gateway(tmp, settings) as running:
        running.extra["cancel_log"] = cancel_log
        yield running


@pytest.fixture(scope="module")
def crashy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """alpha (logs cancelled calls) and beta, with a generous 20 s call timeout."""
    yield from gateway_with_cancel_log(Path(tmp_path_factory.mktemp("crashy")), timeout=20)


@pytest.fixture(scope="module")
def impatient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """The same servers behind a 1 s call timeout."""
    yield from gateway_with_cancel_log(Path(tmp_path_factory.mktemp("impatient")), timeout=1)


# --- crashes ----------------------------------------------------------------------------------


async def test_crash_mid_call_fails_at_once_and_the_server_is_restarted(crashy: RunningGateway) -> None:
    async with crashy.client(mode="legacy") as client:
        before = await pid_of(client, "alpha__pid")
        assert text_of(await client.call_tool("beta__echo", {"text": "a"})) == "beta:a"

        started = time.monotonic()
        with pytest.raises(MCPError) as caught:
            await client.call_tool("alpha__crash", {}, read_timeout_seconds=15)
        assert time.monotonic() - started < 3, "the crash must fail the call at once, not time out"
        error = caught.value
        assert error.code == UPSTREAM_UNAVAILABLE
        assert "'alpha'" in error.message
        assert "exited with code 17" in error.message
        assert error.data["fault"] == "upstream"

        assert text_of(await client.call_tool("beta__echo", {"text": "b"})) == "beta:b"
        after = await pid_of(client, "alpha__pid")
        assert after != before
        assert not pid_alive(before)
        assert text_of(await client.call_tool("alpha__echo", {"text": "c"})) == "alpha:c"
        assert text_of(await client.call_tool("beta__echo", {"text": "d"})) == "beta:d"


async def test_crash_fails_the_in_flight_calls_of_other_clients(crashy: RunningGateway) -> None:
    async with (
        crashy.client(mode="legacy") as waiter,
        crashy.client(mode="legacy", key=BOB_KEY) as crasher,
    ):
        await pid_of(waiter, "alpha__pid")  # alpha is up before the slow call goes out
        slow = asyncio.create_task(waiter.call_tool("alpha__slow", {"seconds": 30}, read_timeout_seconds=20))
        await asyncio.sleep(0.5)
        assert not slow.done()

        crashed_at = time.monotonic()
        with pytest.raises(MCPError):
            await crasher.call_tool("alpha__crash", {})
        with pytest.raises(MCPError) as caught:
            await asyncio.wait_for(slow, 5)
        assert time.monotonic() - crashed_at < 3
        assert caught.value.code == UPSTREAM_UNAVAILABLE
        assert "'alpha' exited" in caught.value.message
        assert caught.value.data["fault"] == "upstream"
        assert text_of(await waiter.call_tool("alpha__whoami", {})) == "alpha"


async def test_a_killed_server_whose_child_holds_its_stdout_fails_its_calls_at_once(tmp_path: Path) -> None:
    """The server's child inherited its stdout, so killing the server leaves the pipe open:
    the gateway must still see the exit, fail the call in flight and take the child down."""
    started = tmp_path / "started"
    holder = {
        "command": "python",
        "args": [str(ROOT / "reliability" / "upstream_server.py"), "--name", "holder", "--child"],
        "env": {"RELIABILITY_STARTED": str(started)},
        "restart": QUICK_RESTART,
        "start": "eager",
    }
    with running_gateway(tmp_path, default_settings({"holder": holder})) as gateway:
        async with gateway.client(mode="legacy") as client:
            pid, child = map(int, text_of(await client.call_tool("holder__pid", {})).split())
            assert child and pid_alive(child)
            slow = asyncio.create_task(client.call_tool("holder__slow", {"seconds": 60}))
            assert await eventually(started.exists), "the slow call never reached the server"

            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            with pytest.raises(MCPError) as caught:
                await asyncio.wait_for(slow, 10)
            assert time.monotonic() - killed_at < 1, "the call must fail at the kill, not its deadline"
            assert caught.value.code == UPSTREAM_UNAVAILABLE
            assert "killed by SIGKILL" in caught.value.message
            assert await eventually(lambda: not pid_alive(child), 2.0), "the child outlived its server"
            assert text_of(await client.call_tool("holder__echo", {"text": "again"})) == "again"


async def test_upstream_stderr_reaches_the_log_tagged_with_the_server(crashy: RunningGateway) -> None:
    async with crashy.client(mode="legacy") as client:
        await client.call_tool("alpha__whoami", {})
        await client.call_tool("beta__whoami", {})
    assert await eventually(lambda: "[beta] fixture beta ready" in crashy.log())
    log_lines = crashy.log().splitlines()
    assert any("[alpha] fixture alpha ready" in line for line in log_lines)
    assert not any("[beta] fixture alpha" in line or "[alpha] fixture beta" in line for line in log_lines)


async def test_get_stream_hears_list_changed_after_a_restart(crashy: RunningGateway) -> None:
    async with crashy.client(mode="legacy") as client:
        await pid_of(client, "alpha__pid")
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(10.0)) as http:
        headers = crashy.headers()
        session_id = await initialize_raw(http, crashy.url, headers)
        stream_headers = {
            **headers,
            "accept": "text/event-stream",
            "mcp-session-id": session_id,
            "mcp-protocol-version": PROTOCOL_VERSION,
        }
        async with http.stream("GET", crashy.url, headers=stream_headers) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith(": stream open")

            async with crashy.client(mode="legacy", key=BOB_KEY) as crasher:
                with pytest.raises(MCPError):
                    await crasher.call_tool("alpha__crash", {})

            methods: list[str] = []
            async with asyncio.timeout(10):
                async for line in lines:
                    if line.startswith("data:"):
                        methods.append(orjson.loads(line.removeprefix("data:"))["method"])
                    if "notifications/tools/list_changed" in methods:
                        break
            assert "notifications/tools/list_changed" in methods


# --- hangs, timeouts and cancellation --------------------------------------------------------


async def test_a_hung_call_times_out_and_is_cancelled_upstream(impatient: RunningGateway) -> None:
    cancel_log = cancel_log_of(impatient)
    async with impatient.client(mode="legacy") as client:
        upstream = await pid_of(client, "alpha__pid")
        before = cancellations(cancel_log)
        started = time.monotonic()
        with pytest.raises(MCPError) as caught:
            await client.call_tool("alpha__slow", {"seconds": 30}, read_timeout_seconds=15)
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed < 3
        error = caught.value
        assert error.code == REQUEST_TIMEOUT
        assert "no answer within 1s" in error.message
        assert error.data == {"timeout": 1, "fault": "upstream"}
        assert await eventually(lambda: cancellations(cancel_log) > before, 3)
        assert text_of(await client.call_tool("alpha__echo", {"text": "still here"})) == "alpha:still here"
        assert await pid_of(client, "alpha__pid") == upstream, "the timeout must not restart the server"


async def test_progress_pushes_the_deadline_back(impatient: RunningGateway) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with impatient.client(mode="legacy") as client:
        started = time.monotonic()
        result = await client.call_tool(
            "alpha__progress", {"steps": 4, "delay": 0.6}, progress_callback=on_progress
        )
        assert time.monotonic() - started >= 2.4
    assert result.is_error is not True
    assert text_of(result) == "4 steps"
    assert seen == [1, 2, 3, 4]


async def test_client_cancellation_reaches_the_upstream(crashy: RunningGateway) -> None:
    """The SDK sends notifications/cancelled when its own read timeout gives up on a call."""
    cancel_log = cancel_log_of(crashy)
    async with crashy.client(mode="legacy") as client:
        upstream = await pid_of(client, "alpha__pid")
        before = cancellations(cancel_log)
        started = time.monotonic()
        with pytest.raises(MCPError):
            await client.call_tool("alpha__slow", {"seconds": 30}, read_timeout_seconds=0.5)
        # Well before the gateway's own 20 s timeout: it was the client's cancellation.
        assert await eventually(lambda: cancellations(cancel_log) > before, 3)
        assert time.monotonic() - started < 5
        assert text_of(await client.call_tool("alpha__echo", {"text": "next"})) == "alpha:next"
        assert await pid_of(client, "alpha__pid") == upstream


async def test_raw_cancel_notification_cancels_the_call(crashy: RunningGateway) -> None:
    cancel_log = cancel_log_of(crashy)
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(15.0)) as http:
        headers = crashy.headers()
        session_id = await initialize_raw(http, crashy.url, headers)
        session_headers = {
            **headers,
            "content-type": "application/json",
            "mcp-session-id": session_id,
            "mcp-protocol-version": PROTOCOL_VERSION,
        }

        async def call(request_id: int, name: str, arguments: dict[str, Any]) -> httpx2.Response:
            message = {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments},
            }
            return await http.post(crashy.url, headers=session_headers, json=message)

        assert (await call(2, "alpha__whoami", {})).status_code == 200
        before = cancellations(cancel_log)
        started = time.monotonic()
        slow = asyncio.create_task(call(3, "alpha__slow", {"seconds": 30}))
        await asyncio.sleep(0.5)
        assert not slow.done()
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}
        accepted = await http.post(crashy.url, headers=session_headers, json=cancel)
        assert accepted.status_code == 202

        answer = await asyncio.wait_for(slow, 5)
        assert time.monotonic() - started < 5
        assert answer.status_code == 200
        assert answer.json()["error"]["code"] == REQUEST_CANCELLED
        assert await eventually(lambda: cancellations(cancel_log) > before, 3)

        after = await call(4, "alpha__echo", {"text": "after"})
        assert after.json()["result"]["content"][0]["text"] == "alpha:after"


# --- servers that never come up --------------------------------------------------------------


def exits_at_once(**settings: Any) -> dict[str, Any]:
    return {"command": "python", "args": ["-c", "import sys; sys.exit(3)"], **settings}


async def test_a_crash_looping_server_is_reported_and_others_keep_working(tmp_path: Path) -> None:
    settings = default_settings(
        {
            "alpha": fixture_server("alpha"),
            "broken": exits_at_once(
                restart={"max_restarts": 2, "window": 60, "backoff_initial": 0.05, "backoff_max": 0.1}
            ),
        }
    )
    with running_gateway(tmp_path, settings) as gateway:
        async with gateway.client(mode="legacy") as client:
            messages: list[str] = []
            for _ in range(6):
                with pytest.raises(MCPError) as caught:
                    await client.call_tool("broken__echo", {"text": "x"}, read_timeout_seconds=10)
                assert caught.value.code == UPSTREAM_UNAVAILABLE
                assert caught.value.data["fault"] == "upstream"
                messages.append(caught.value.message)
                assert text_of(await client.call_tool("alpha__echo", {"text": "ok"})) == "alpha:ok"
                if "crash-looping" in messages[-1]:
                    break

            assert all("'broken'" in message for message in messages), messages
            assert "failed to start" in messages[0], messages
            assert "crash-looping" in messages[-1], messages
            assert "2 restarts within 60s" in messages[-1]
            assert len(messages) <= 5, "the crash loop must be detected after max_restarts"

            # Given up for the window: no more restart attempts, the same answer at once.
            attempts = gateway.log().count("'broken' failed to start")
            with pytest.raises(MCPError) as caught:
                await client.call_tool("broken__echo", {"text": "x"}, read_timeout_seconds=10)
            assert "crash-looping" in caught.value.message
            assert gateway.log().count("'broken' failed to start") == attempts

            names = [tool.name for tool in (await client.list_tools()).tools]
            assert "alpha__echo" in names
            assert not any(name.startswith("broken__") for name in names)
            assert text_of(await client.call_tool("alpha__whoami", {})) == "alpha"
        assert "'broken' is crash-looping" in gateway.log()


async def test_a_missing_command_is_named_and_others_keep_working(tmp_path: Path) -> None:
    settings = default_settings(
        {
            "missing": {"command": "portcullis-no-such-command-4242", "restart": QUICK_RESTART},
            "alpha": fixture_server("alpha"),
        }
    )
    with running_gateway(tmp_path, settings) as gateway:
        async with gateway.client(mode="legacy") as client:
            with pytest.raises(MCPError) as caught:
                await client.call_tool("missing__echo", {"text": "x"}, read_timeout_seconds=10)
            error = caught.value
            assert error.code == UPSTREAM_UNAVAILABLE
            assert "'missing'" in error.message
            assert "portcullis-no-such-command-4242" in error.message
            assert error.data["fault"] == "upstream"

            assert text_of(await client.call_tool("alpha__echo", {"text": "ok"})) == "alpha:ok"
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert "alpha__echo" in names
        assert "portcullis-no-such-command-4242" in gateway.log()

        async with gateway.client(mode="legacy", url=gateway.server_url("missing")) as pinned:
            with pytest.raises(MCPError) as caught:
                await pinned.call_tool("echo", {"text": "x"}, read_timeout_seconds=10)
            assert "portcullis-no-such-command-4242" in caught.value.message
