"""Test support: run the real gateway as a subprocess and talk to it as clients do."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from aiohttp import web
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

from middleware.auth.api_key import hash_key

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SERVER = ROOT / "tests" / "fixtures" / "fixture_server.py"
ALICE_KEY = "pcs_test_alice_key_0123456789"
BOB_KEY = "pcs_test_bob_key_9876543210"
ACCEPT_BOTH = "application/json, text/event-stream"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else toml_value(key)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _emit_table(lines: list[str], name: str, table: Mapping[str, Any]) -> None:
    """Scalars and inline tables first, then arrays of tables (which cannot be reopened)."""
    lines.append(f"[{name}]")
    arrays = {k: v for k, v in table.items() if _is_table_array(v)}
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items() if k not in arrays]
    for key, items in arrays.items():
        for item in items:
            lines.append(f"[[{name}.{key}]]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in item.items()]


def to_toml(settings: Mapping[str, Any]) -> str:
    """Enough TOML for settings: scalars, tables, arrays of tables, [servers.NAME]."""
    lines = [
        f"{toml_key(k)} = {toml_value(v)}"
        for k, v in settings.items()
        if not isinstance(v, dict) and not _is_table_array(v)
    ]
    for key, value in settings.items():
        if key == "servers":
            for name, server in value.items():
                _emit_table(lines, f"servers.{name}", server)
        elif isinstance(value, dict):
            _emit_table(lines, key, value)
        elif _is_table_array(value):
            for item in value:
                lines.append(f"[[{key}]]")
                lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def fixture_server(name: str, *extra: str, **settings: Any) -> dict[str, Any]:
    """A [servers.NAME] table running the fixture server under ``name``."""
    return {
        "command": "python",
        "args": [str(FIXTURE_SERVER), "--name", name, *extra],
        **settings,
    }


def default_settings(servers: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "auth": {
            "enabled": True,
            "api_keys": [
                {"principal": "alice", "sha256": hash_key(ALICE_KEY)},
                {"principal": "bob", "sha256": hash_key(BOB_KEY)},
            ],
        },
        "logging": {"level": "info"},
        "servers": dict(servers),
    }
    settings.update(overrides)
    # Lists and initialize wait for every server, as tests that do not test the patience expect.
    settings["routing"] = {"start_patience": 60, **settings.get("routing", {})}
    return settings


@dataclass
class RunningGateway:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    settings_path: Path
    key: str = ALICE_KEY
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def server_url(self, name: str) -> str:
        return f"{self.base}/servers/{name}/mcp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def headers(self, key: str | None = None, **extra: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key or self.key}", "accept": ACCEPT_BOTH, **extra}

    def client(self, *, url: str | None = None, key: str | None = None, **options: Any) -> Client:
        """An ``mcp`` SDK client speaking to the gateway with an API key."""
        http = httpx2.AsyncClient(
            headers={"authorization": f"Bearer {key or self.key}"},
            timeout=httpx2.Timeout(30.0, read=60.0),
        )
        return Client(streamable_http_client(url or self.url, http_client=http), **options)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def start_gateway(
    tmp: Path,
    settings: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    wait: bool = True,
    port: int | None = None,
) -> RunningGateway:
    port = port or free_port()
    settings_path = tmp / f"settings-{port}.toml"
    settings_path.write_text(to_toml(settings))
    log_path = tmp / f"gateway-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--settings", str(settings_path), "--port", str(port)],
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT / "tests"), **(env or {})},
        )
    gateway = RunningGateway(process, port, log_path, settings_path)
    if wait:
        wait_ready(gateway)
    return gateway


def wait_ready(gateway: RunningGateway, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            raise RuntimeError(f"gateway exited with {gateway.process.returncode}:\n{gateway.log()}")
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(f"{gateway.base}/healthz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"gateway did not become ready:\n{gateway.log()}")


@contextlib.contextmanager
def running_gateway(tmp: Path, settings: Mapping[str, Any], **kwargs: Any) -> Iterator[RunningGateway]:
    gateway = start_gateway(tmp, settings, **kwargs)
    try:
        yield gateway
    finally:
        gateway.stop()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    with contextlib.suppress(FileNotFoundError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return False


INITIALIZE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "0"},
    },
}


def text_of(result: Any) -> str:
    """The text of a tool result's first content block."""
    block = result.content[0]
    assert isinstance(block, TextContent)
    text: str = block.text
    return text


async def pid_of(client: Client, tool: str) -> int:
    """The pid a fixture server reports through its ``pid`` tool."""
    return int(text_of(await client.call_tool(tool, {})))


async def initialize_raw(client: httpx2.AsyncClient, url: str, headers: Mapping[str, str]) -> str:
    """Open a session by hand; returns its id."""
    response = await client.post(
        url, headers={**headers, "content-type": "application/json"}, json=INITIALIZE
    )
    assert response.status_code == 200, response.text
    session_id = response.headers["mcp-session-id"]
    await client.post(
        url,
        headers={
            **headers,
            "content-type": "application/json",
            "mcp-session-id": session_id,
            "mcp-protocol-version": "2025-11-25",
        },
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
    )
    return session_id


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[int]:
    """An aiohttp app on 127.0.0.1, in this event loop (a fake upstream or service); its port."""
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()
