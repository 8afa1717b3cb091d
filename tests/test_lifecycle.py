"""Starting and stopping: no upstream process outlives the gateway, eager servers start before
any client, name collisions are refused, and each server has its own sidecar endpoint."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import MCPError

from tests.support import (
    FIXTURE_SERVER,
    RunningGateway,
    default_settings,
    fixture_server,
    initialize_raw,
    pid_alive,
    pid_of,
    running_gateway,
    start_gateway,
    text_of,
)

pytestmark = pytest.mark.timeout(90)

FIXTURE_TOOLS = {"echo", "add", "whoami", "slow", "progress", "crash", "fail", "pid", "big"}
PROTOCOL_VERSION = "2025-11-25"


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (here: the gateway's reaper and its upstream servers)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def kill_leftovers(pids: list[int]) -> None:
    """A failed test must not leave processes behind for the next one."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def health(gateway: RunningGateway) -> dict[str, str]:
    servers: dict[str, dict[str, str]] = httpx2.get(f"{gateway.base}/healthz", timeout=5).json()["servers"]
    return {name: server["state"] for name, server in servers.items()}


# --- shutdown leaves no orphans ----------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
async def test_no_upstream_outlives_the_gateway(tmp_path: Path, sig: signal.Signals) -> None:
    settings = default_settings({"alpha": fixture_server("alpha"), "beta": fixture_server("beta")})
    gateway = start_gateway(tmp_path, settings)
    pids: list[int] = []
    try:
        async with gateway.client(mode="legacy") as client:
            pids = [await pid_of(client, "alpha__pid"), await pid_of(client, "beta__pid")]
        children = children_of(gateway.process.pid)
        assert set(pids) <= set(children)
        assert len(children) == 3, "the two servers and the reaper"
        pids = children
        assert all(pid_alive(pid) for pid in pids)

        code = gateway.stop(sig)

        if sig == signal.SIGKILL:
            assert code == -signal.SIGKILL
            # Nothing of the gateway ran: the reaper notices and sweeps the process groups.
            assert wait_until(lambda: not any(pid_alive(pid) for pid in pids), 6), gateway.log()
        else:
            assert code == 0, gateway.log()
            assert wait_until(lambda: not any(pid_alive(pid) for pid in pids), 3), gateway.log()
    finally:
        gateway.stop(signal.SIGKILL)
        kill_leftovers(pids)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
async def test_grandchildren_die_with_the_gateway(tmp_path: Path, sig: signal.Signals) -> None:
    """The server is a shell that runs the fixture as its child and leaves a background
    ``sleep`` that ignores stdin: both must go when the gateway does."""
    sleeper_file = tmp_path / "sleeper.pid"
    script = (
        f"sleep 300 </dev/null >/dev/null 2>&1 & echo $! > '{sleeper_file}'; "
        f"'{sys.executable}' '{FIXTURE_SERVER}' --name wrapped; exit $?"
    )
    settings = default_settings({"wrapped": {"command": "sh", "args": ["-c", script]}})
    gateway = start_gateway(tmp_path, settings)
    pids: list[int] = []
    try:
        async with gateway.client(mode="legacy") as client:
            grandchild = await pid_of(client, "wrapped__pid")
        sleeper = int(sleeper_file.read_text())
        pids = [grandchild, sleeper]
        shell = children_of(gateway.process.pid)
        assert grandchild not in shell, "the fixture must run as a grandchild"
        assert sleeper not in shell
        assert all(pid_alive(pid) for pid in pids)

        gateway.stop(sig)

        gone = wait_until(lambda: not any(pid_alive(pid) for pid in pids), 6)
        assert gone, f"still alive: {[pid for pid in pids if pid_alive(pid)]}\n{gateway.log()}"
    finally:
        gateway.stop(signal.SIGKILL)
        kill_leftovers(pids)


# --- start -------------------------------------------------------------------------------------


async def test_eager_servers_start_before_any_client(tmp_path: Path) -> None:
    settings = default_settings(
        {"alpha": fixture_server("alpha", start="eager"), "beta": fixture_server("beta")}
    )
    with running_gateway(tmp_path, settings) as gateway:
        assert health(gateway) == {"alpha": "running", "beta": "not started"}
        assert "[alpha] fixture alpha ready" in gateway.log()
        assert "fixture beta ready" not in gateway.log()
        async with gateway.client(mode="legacy") as client:
            assert text_of(await client.call_tool("beta__whoami", {})) == "beta"
        assert health(gateway) == {"alpha": "running", "beta": "running"}


def unprefixed(name: str, *extra: str, **settings: Any) -> dict[str, Any]:
    return fixture_server(name, *extra, prefix="", **settings)


async def test_a_name_collision_between_eager_servers_refuses_to_start(tmp_path: Path) -> None:
    settings = default_settings(
        {"alpha": unprefixed("alpha", start="eager"), "beta": unprefixed("beta", start="eager")}
    )
    gateway = start_gateway(tmp_path, settings, wait=False)
    try:
        code = gateway.process.wait(30)
    finally:
        gateway.stop(signal.SIGKILL)
    assert code != 0
    refusals = [line for line in gateway.log().splitlines() if "refusing to start" in line]
    assert refusals, gateway.log()
    assert "'echo'" in refusals[0]
    assert "'alpha'" in refusals[0]
    assert "'beta'" in refusals[0]


async def test_a_name_collision_between_lazy_servers_is_refused_for_both_and_logged(
    tmp_path: Path,
) -> None:
    """Two unprefixed servers offering the same names: neither may take them (a gateway cannot
    tell which is the impostor), so the names are left out and calls to them refused."""
    settings = default_settings({"alpha": unprefixed("alpha"), "beta": unprefixed("beta", "--tools-only")})
    with running_gateway(tmp_path, settings) as gateway:
        async with gateway.client(mode="legacy") as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert not set(names) & set(FIXTURE_TOOLS)
            with pytest.raises(MCPError, match=r"alpha.*beta|beta.*alpha"):
                await client.call_tool("echo", {"text": "hi"})
        refusals = [
            line for line in gateway.log().splitlines() if "name collision refused: tool 'echo'" in line
        ]
        assert len(refusals) == 1, gateway.log()
        assert "'alpha'" in refusals[0] and "'beta'" in refusals[0]
        assert health(gateway) == {"alpha": "running", "beta": "running"}


# --- the sidecar endpoint of each server ---------------------------------------------------


async def test_sidecar_endpoint_serves_one_server_unprefixed(tmp_path: Path) -> None:
    settings = default_settings({"alpha": fixture_server("alpha"), "beta": fixture_server("beta")})
    with running_gateway(tmp_path, settings) as gateway:
        async with gateway.client(mode="legacy", url=gateway.server_url("alpha")) as alpha:
            names = [tool.name for tool in (await alpha.list_tools()).tools]
            assert sorted(names) == sorted(FIXTURE_TOOLS)
            assert text_of(await alpha.call_tool("echo", {"text": "hi"})) == "alpha:hi"
            assert text_of(await alpha.call_tool("whoami", {})) == "alpha"
            for foreign in ("alpha__echo", "beta__echo"):
                with pytest.raises(MCPError):
                    await alpha.call_tool(foreign, {"text": "hi"})
        async with gateway.client(mode="legacy", url=gateway.server_url("beta")) as beta:
            assert text_of(await beta.call_tool("whoami", {})) == "beta"

        async with httpx2.AsyncClient(timeout=10) as http:
            headers = gateway.headers()
            session_id = await initialize_raw(http, gateway.url, headers)
            list_tools = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
            session_headers = {
                **headers,
                "content-type": "application/json",
                "mcp-session-id": session_id,
                "mcp-protocol-version": PROTOCOL_VERSION,
            }
            on_aggregate = await http.post(gateway.url, headers=session_headers, json=list_tools)
            assert on_aggregate.status_code == 200
            on_sidecar = await http.post(
                gateway.server_url("alpha"), headers=session_headers, json=list_tools
            )
            assert on_sidecar.status_code == 404
            assert "Session not found" in on_sidecar.json()["error"]["message"]

            sidecar_session = await initialize_raw(http, gateway.server_url("alpha"), headers)
            back = {**session_headers, "mcp-session-id": sidecar_session}
            assert (await http.post(gateway.url, headers=back, json=list_tools)).status_code == 404
