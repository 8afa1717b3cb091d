"""``portcullis stdio``: the same gateway for clients that spawn their servers.

Every test spawns the real command as a subprocess, as a desktop client does, and speaks to it
with the ``mcp`` SDK's stdio client or line by line; upstreams are the fixture servers, also
real subprocesses. The Inspector CLI and the thin mode (``--url``, towards a real ``serve``)
are in tests/test_stdio_remote.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.support import (
    ALICE_KEY,
    default_settings,
    fixture_server,
    pid_alive,
    text_of,
    to_toml,
)
from tests.test_client_features import ASKING_SERVER, elicitation, roots, sampling

PORTCULLIS = Path(sys.executable).parent / "portcullis"
MODERN = "2026-07-28"

POLICIES = [
    {"name": "everyone", "effect": "allow"},
    {"name": "no-etc", "effect": "deny", "tools": ["echo"], "when": 'startswith(args.text, "/etc/")'},
]


def settings_file(tmp: Path, **overrides: Any) -> Path:
    servers = {"fx": fixture_server("fx"), "asking": ASKING_SERVER}
    settings = default_settings(servers, policies=POLICIES, **overrides)
    path = tmp / "settings.toml"
    path.write_text(to_toml(settings))
    return path


def stdio_env(key: str | None = ALICE_KEY, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PORTCULLIS_API_KEY"}
    if key is not None:
        env["PORTCULLIS_API_KEY"] = key
    return {**env, **extra}


def stdio_client_of(settings: Path, *extra: str, key: str | None = ALICE_KEY, **options: Any) -> Client:
    params = StdioServerParameters(
        command=str(PORTCULLIS),
        args=["stdio", "--settings", str(settings), *extra],
        env=stdio_env(key),
        cwd=str(settings.parent),
    )
    return Client(stdio_client(params), **options)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return settings_file(tmp_path_factory.mktemp("stdio"))


# ---- the SDK's stdio client, both eras ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_an_sdk_client_gets_the_gateway_over_stdio(settings: Path, mode: str, tmp_path: Path) -> None:
    log_file = tmp_path / "stdio.log"
    async with stdio_client_of(
        settings,
        "--log-file",
        str(log_file),
        mode=mode,
        sampling_callback=sampling,
        elicitation_callback=elicitation,
        list_roots_callback=roots,
    ) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"fx__add", "fx__echo", "asking__ask"} <= names
        assert text_of(await client.call_tool("fx__add", {"a": 2, "b": 3})) == "5"
        # Server-to-client requests: relayed on stdout in the legacy era, as MRTR in the modern one.
        assert text_of(await client.call_tool("asking__sample", {"prompt": "hi"})) == "sampled: echo of hi"
        assert text_of(await client.call_tool("asking__ask", {"question": "?"})) == "answered: forty-two"
        assert text_of(await client.call_tool("asking__roots", {})) == "file:///work/project"
        prompt = await client.get_prompt("fx__greet", {"name": "Ada"})
        assert "Ada" in str(prompt.messages[0].content)
    log = log_file.read_text()
    assert "principal=alice" in log and "method=tools/call" in log
    assert ALICE_KEY not in log


async def test_policies_and_guardrails_apply_as_over_http(settings: Path) -> None:
    async with stdio_client_of(settings, mode="auto") as client:
        assert text_of(await client.call_tool("fx__echo", {"text": "/home/a"})).endswith("/home/a")
        with pytest.raises(MCPError) as denied:
            await client.call_tool("fx__echo", {"text": "/etc/passwd"})
        assert "no-etc" in denied.value.error.message
        # The built-in guardrails: an e-mail address in a result is redacted on its way back.
        result = text_of(await client.call_tool("fx__echo", {"text": "write to ada@example.com"}))
        assert "ada@example.com" not in result


# ---- identity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "pcs_not_a_key_we_know_0000000000"])
async def test_a_missing_or_wrong_key_is_refused_with_the_fix(settings: Path, key: str | None) -> None:
    with pytest.raises(Exception) as raised:
        async with stdio_client_of(settings, key=key, mode="legacy") as client:
            await client.list_tools()
    refused = mcp_error_in(raised.value)
    assert refused.error.code == -32010
    assert "PORTCULLIS_API_KEY" in refused.error.message
    assert "after renewing" not in refused.error.message  # a key is not renewed


def mcp_error_in(exc: BaseException) -> MCPError:
    """The SDK's error, out of the exception groups its task groups wrap it in."""
    if isinstance(exc, MCPError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            with contextlib.suppress(AssertionError):
                return mcp_error_in(inner)
    raise AssertionError(f"no MCPError in {exc!r}")


async def test_without_configured_keys_the_local_user_is_let_in(tmp_path: Path) -> None:
    """As on loopback HTTP: no key configured means a key for this run, here never shown."""
    path = settings_file(tmp_path, auth={"enabled": True})
    async with stdio_client_of(path, key=None, mode="auto") as client:
        assert text_of(await client.call_tool("fx__whoami", {})) == "fx"


async def test_a_token_file_is_the_credential(settings: Path, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(ALICE_KEY + "\n")
    async with stdio_client_of(settings, "--token-file", str(token), key=None, mode="legacy") as client:
        assert text_of(await client.call_tool("fx__add", {"a": 1, "b": 1})) == "2"


# ---- the wire, line by line -----------------------------------------------------------------------


class Lines:
    """The command under test, spoken to one JSON line at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seen: list[dict[str, Any]] = []

    async def send(self, message: Mapping[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode() + b"\n")
        await self.process.stdin.drain()

    async def next(self, timeout: float = 30.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        assert line, "stdout ended"
        message: dict[str, Any] = json.loads(line)  # stdout is protocol, nothing else
        self.seen.append(message)
        return message

    async def answer_to(self, request_id: Any, timeout: float = 30.0) -> dict[str, Any]:
        while True:
            message = await self.next(timeout)
            if message.get("id") == request_id and "method" not in message:
                return message


@asynccontextmanager
async def spoken_to(settings: Path, *extra: str) -> AsyncIterator[Lines]:
    process = await asyncio.create_subprocess_exec(
        str(PORTCULLIS),
        "stdio",
        "--settings",
        str(settings),
        *extra,
        env=stdio_env(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield Lines(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def modern(request_id: Any, method: str, **params: Any) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "lines", "version": "1"},
    }
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": meta}}


async def test_stdout_is_protocol_only_and_bad_lines_get_errors(settings: Path) -> None:
    async with spoken_to(settings) as lines:
        await lines.send("this is not json")
        parse_error = await lines.next()
        assert parse_error["error"]["code"] == -32700 and parse_error["id"] is None
        await lines.send("[1, 2]")
        assert (await lines.next())["error"]["code"] == -32600
        await lines.send(modern(1, "server/discover"))
        discovered = await lines.answer_to(1)
        assert MODERN in discovered["result"]["supportedVersions"]
        await lines.send(modern(2, "tools/call", name="fx__add", arguments={"a": 20, "b": 22}))
        assert (await lines.answer_to(2))["result"]["structuredContent"] == {"result": 42}
        assert lines.process.stdin is not None
        lines.process.stdin.close()
        started = time.monotonic()
        assert await asyncio.wait_for(lines.process.wait(), 30) == 0
        assert time.monotonic() - started < 15, "the end of stdin must stop the command promptly"
        assert lines.process.stderr is not None
        stderr = (await lines.process.stderr.read()).decode()
    assert "method=tools/call" in stderr  # the logs went to stderr
    assert all("jsonrpc" in message for message in lines.seen)


async def test_a_modern_cancel_stops_the_call_and_nothing_answers_it(settings: Path) -> None:
    async with spoken_to(settings) as lines:
        await lines.send(modern(7, "tools/call", name="fx__slow", arguments={"seconds": 30}))
        await asyncio.sleep(1.0)
        await lines.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7}})
        await lines.send(modern(8, "tools/call", name="fx__add", arguments={"a": 1, "b": 2}))
        assert (await lines.answer_to(8))["result"]["structuredContent"] == {"result": 3}
        await asyncio.sleep(1.0)
        assert lines.process.stdin is not None
        lines.process.stdin.close()
        await asyncio.wait_for(lines.process.wait(), 30)
        assert lines.process.stdout is not None
        rest = [json.loads(line) for line in (await lines.process.stdout.read()).splitlines()]
    assert not [m for m in [*lines.seen, *rest] if m.get("id") == 7], "a cancelled call was answered"


# ---- a hung or crashing upstream behind it --------------------------------------------------------


async def test_a_hung_or_crashing_upstream_fails_that_call_only(tmp_path: Path) -> None:
    path = settings_file(
        tmp_path,
        middleware=[
            {"use": "middleware.telemetry.access_log:AccessLog"},
            {"use": "middleware.timeouts:Timeouts", "options": {"tool_execution": 2}},
        ],
    )
    async with stdio_client_of(path, mode="legacy") as client:
        before = await client.call_tool("fx__pid", {})
        started = time.monotonic()
        with pytest.raises(MCPError) as hung:
            await client.call_tool("fx__slow", {"seconds": 60})
        assert time.monotonic() - started < 20
        assert "timed out" in hung.value.error.message or hung.value.error.code == -32001
        with pytest.raises(MCPError) as crashed:
            await client.call_tool("fx__crash", {})
        assert "fx" in crashed.value.error.message
        # The supervisor restarts the server; the next call is served by a new process.
        for _ in range(60):
            try:
                after = await client.call_tool("fx__pid", {})
                break
            except MCPError:
                await asyncio.sleep(0.5)
        assert text_of(after) != text_of(before)
        assert text_of(await client.call_tool("asking__chatty", {})) == "logged"


def test_the_end_of_stdin_stops_every_upstream(settings: Path) -> None:
    process = subprocess.Popen(
        [str(PORTCULLIS), "stdio", "--settings", str(settings)],
        env=stdio_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write((json.dumps(modern(1, "tools/call", name="fx__pid", arguments={})) + "\n").encode())
    process.stdin.flush()
    answer = json.loads(process.stdout.readline())
    upstream = int(answer["result"]["structuredContent"]["result"])
    assert pid_alive(upstream)
    process.stdin.close()
    assert process.wait(30) == 0
    deadline = time.monotonic() + 10
    while pid_alive(upstream) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(upstream), "an upstream outlived the stdio gateway"


def test_a_state_file_from_an_earlier_run_is_read_before_serving(tmp_path: Path) -> None:
    """The tenancy store is read synchronously at start (as ``serve`` reads it): the second run
    finds the state file the first one left, which once crashed inside the event loop."""
    path = settings_file(tmp_path, auth={"enabled": True}, guardrails={"store": str(tmp_path / "state.db")})
    request = json.dumps(modern(1, "tools/call", name="fx__add", arguments={"a": 1, "b": 2})) + "\n"
    for _ in range(2):
        done = subprocess.run(
            [str(PORTCULLIS), "stdio", "--settings", str(path)],
            input=request.encode(),
            capture_output=True,
            env=stdio_env(key=None),
            timeout=60,
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        assert json.loads(done.stdout)["result"]["structuredContent"] == {"result": 3}
    assert (tmp_path / "state.db").exists()


def test_a_token_command_that_fails_stops_the_command_with_the_fix(settings: Path) -> None:
    done = subprocess.run(
        [str(PORTCULLIS), "stdio", "--settings", str(settings), "--token-command", "false"],
        input=b"",
        capture_output=True,
        env=stdio_env(key=None),
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == b""
    stderr = done.stderr.decode()
    assert "--token-command exited 1 without a token" in stderr and "PORTCULLIS_API_KEY" in stderr
    assert "Traceback" not in stderr
