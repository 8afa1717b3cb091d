"""Starting as a new user meets it: `check` catches a command that cannot run, a server that
cannot start does not take the gateway down, /healthz tells the truth, a busy port fails in
one line."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sys
import time
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
    pid_alive,
    pid_of,
    running_gateway,
    start_gateway,
    text_of,
)
from tests.test_settings_cli import cli, write

pytestmark = pytest.mark.timeout(90)


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        ("portcullis-no-such-command-4242", "was not found on PATH"),
        ("/nonexistent/dir/mcp-server", "does not exist"),
        ("{tmp}", "is not an executable file"),  # a directory
        ("{tmp}/plain.txt", "is not an executable file"),
    ],
)
def test_check_refuses_a_command_that_cannot_run(tmp_path: Path, command: str, complaint: str) -> None:
    (tmp_path / "plain.txt").write_text("not a program\n")
    command = command.format(tmp=tmp_path)
    text = f'[servers.good]\ncommand = "python"\n\n[servers.bad]\ncommand = "{command}"\n'
    result = cli("check", "--settings", str(write(tmp_path, text)))
    assert result.returncode == 2, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("  - servers.bad.command: "), result.stderr
    assert complaint in lines[0]
    assert "Traceback" not in result.stderr


def test_check_accepts_commands_that_run(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "my-server"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o755)
    text = (
        '[servers.py]\ncommand = "python"\n\n'
        '[servers.onpath]\ncommand = "my-server"\nenv = { PATH = "' + str(script.parent) + '" }\n\n'
        '[servers.relative]\ncommand = "./my-server"\ncwd = "bin"\n\n'
        '[servers.remote]\nurl = "https://mcp.example.com/mcp"\n'
    )
    result = cli("check", "--settings", str(write(tmp_path, text)))
    assert result.returncode == 0, result.stderr
    assert "OK (4 servers" in result.stdout


# --- a server that cannot start does not take the gateway down ---------------------------------

MISSING = "portcullis-no-such-command-4242"


def healthz(gateway: RunningGateway) -> tuple[int, dict[str, Any]]:
    response = httpx2.get(f"{gateway.base}/healthz", timeout=5)
    body: dict[str, Any] = response.json()
    return response.status_code, body


async def test_a_missing_eager_server_is_one_log_line_and_the_others_are_served(tmp_path: Path) -> None:
    settings = default_settings(
        {"good": fixture_server("good", start="eager"), "bad": {"command": MISSING, "start": "eager"}}
    )
    with running_gateway(tmp_path, settings) as gateway:
        about_bad = [line for line in gateway.log().splitlines() if "[bad]" in line]
        assert len(about_bad) == 1, gateway.log()
        assert MISSING in about_bad[0] and "servers.bad.command" in about_bad[0]
        assert "Traceback" not in gateway.log()
        async with gateway.client(mode="legacy") as client:
            assert text_of(await client.call_tool("good__echo", {"text": "hi"})) == "good:hi"
            with pytest.raises(MCPError) as caught:
                await client.call_tool("bad__echo", {"text": "x"}, read_timeout_seconds=10)
            assert "'bad'" in caught.value.message
            assert caught.value.error.data["fault"] == "upstream"
        status, body = healthz(gateway)
        assert status == 200
        assert body["status"] == "degraded"
        assert body["servers"] == {
            "good": {"state": "running"},
            "bad": {"state": "failed", "reason": "its command was not found"},
        }


async def test_a_crashing_eager_server_is_reported_failed_with_its_exit(tmp_path: Path) -> None:
    crashing = {"command": "python", "args": ["-c", "import sys; sys.exit(3)"], "start": "eager"}
    settings = default_settings({"good": fixture_server("good"), "crashy": crashing})
    with running_gateway(tmp_path, settings) as gateway:
        assert "Traceback" not in gateway.log()
        status, body = healthz(gateway)
        assert status == 200
        assert body["servers"]["crashy"] == {"state": "failed", "reason": "exited with code 3"}
        assert body["servers"]["good"] == {"state": "not started"}


def test_healthz_is_503_when_every_server_failed_and_leaks_no_command(tmp_path: Path) -> None:
    secret_path = tmp_path / "secret-dir" / "server"
    settings = default_settings(
        {"bad": {"command": str(secret_path), "args": ["--token=s3cret"], "start": "eager"}}
    )
    gateway = start_gateway(tmp_path, settings, wait=False)
    try:
        response = wait_for_healthz(gateway)
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert "secret-dir" not in response.text and "s3cret" not in response.text
    finally:
        gateway.stop()


def wait_for_healthz(gateway: RunningGateway, timeout: float = 30.0) -> httpx2.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert gateway.process.poll() is None, gateway.log()
        with contextlib.suppress(httpx2.HTTPError):
            return httpx2.get(f"{gateway.base}/healthz", timeout=1.0)
        time.sleep(0.05)
    raise AssertionError(f"/healthz never answered:\n{gateway.log()}")


# --- /healthz tells the truth right after a server dies ----------------------------------------


async def test_healthz_sees_a_killed_server_at_once_even_if_its_stdout_stays_open(tmp_path: Path) -> None:
    """The first run leaves a child holding stdout (as npx or a shell wrapper can), so the
    reader sees no EOF; the restart then hangs, so the server stays 'restarting'."""
    marker = tmp_path / "started-once"
    script = (
        f'if [ -e "{marker}" ]; then exec sleep 300; fi; touch "{marker}"; '
        f'sleep 300 & exec "{sys.executable}" "{FIXTURE_SERVER}" --name alpha'
    )
    settings = default_settings(
        {
            "alpha": {"command": "/bin/sh", "args": ["-c", script], "start": "eager", "startup_timeout": 120},
            "beta": fixture_server("beta"),
        }
    )
    with running_gateway(tmp_path, settings) as gateway:
        assert healthz(gateway)[1]["servers"]["alpha"] == {"state": "running"}
        async with gateway.client(mode="legacy") as client:
            pid = await pid_of(client, "alpha__pid")
        os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.01)
        status, body = healthz(gateway)
        assert body["servers"]["alpha"] == {"state": "restarting", "last_exit": "was killed by SIGKILL"}
        assert (status, body["status"]) == (200, "degraded")


# --- a busy port -------------------------------------------------------------------------------


def test_a_busy_port_is_one_line_and_no_key(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        path = write(tmp_path, "[auth]\nenabled = true\n")  # no keys: serve would print a local one
        result = cli("serve", "--settings", str(path), "--port", str(port))
    assert result.returncode == 2, result.stderr
    output = result.stdout + result.stderr
    assert not re.search(r"pcs_\w", output), output
    assert "serving" not in output and "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].endswith(
        f"127.0.0.1:{port} is already in use; stop the other process or pick another port with --port"
    )
