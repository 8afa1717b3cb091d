"""The suite's bench: the real gateway as a subprocess, in front of the suite's own stdio
upstreams, and the lean clients and /proc readings every part shares.

Processes, the gateway's settings and the keep-alive HTTP client come from :mod:`bench.harness`;
this module adds what reliability needs on top: fast-restarting upstreams, a short tools/call
deadline, raw exchanges for malformed input, and counts of memory, descriptors and processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httptools
import orjson

from bench.harness import (
    API_KEY,
    PYTHON,
    Era,
    GatewayConfig,
    HttpConnection,
    Processes,
    ProcStats,
    Service,
    header_lines,
    mcp_headers,
    mirrored_headers,
    open_session,
    request_body,
    request_tail,
    start_gateway,
)

UPSTREAM = Path(__file__).resolve().parent / "upstream_server.py"
TOOL_TIMEOUT = 2.0
"""The tools/call deadline of the Timeouts middleware in the suite's gateway, in seconds."""
FAULTS = ("client", "policy", "upstream", "gateway")
FAST_RESTART = {"backoff_initial": 0.01, "backoff_max": 0.05, "max_restarts": 1_000_000, "window": 0.01}
"""Part (b) kills an upstream a thousand times: restart at once, never call it crash-looping."""


def upstream(name: str, directory: Path, *, child: bool = False) -> dict[str, Any]:
    """A [servers.NAME] table running the suite's upstream, with its logs in ``directory``."""
    args = [str(UPSTREAM), "--name", name, *(["--child"] if child else [])]
    env = {
        "RELIABILITY_CANCELLED": str(directory / f"{name}-cancelled.log"),
        "RELIABILITY_STARTED": str(directory / f"{name}-started.log"),
    }
    return {"command": PYTHON, "args": args, "era": "legacy", "env": env, "restart": FAST_RESTART}


@dataclass
class Lab:
    """A running gateway with three upstreams: ``up`` (steady), ``victim`` (part (b) kills it)
    and ``holder`` (killed too; its child lives on holding its stdout until someone kills it)."""

    procs: Processes
    gateway: Service

    @property
    def port(self) -> int:
        assert self.gateway.port is not None
        return self.gateway.port

    @property
    def pid(self) -> int:
        return self.gateway.process.pid

    def alive(self) -> bool:
        return self.gateway.process.poll() is None

    def log_path(self, name: str, kind: str) -> Path:
        return self.procs.dir / f"{name}-{kind}.log"

    def rss_mb(self) -> float:
        return ProcStats(self.pid).rss_mb()

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def tracebacks(self) -> int:
        return self.gateway.log_path.read_text(errors="replace").count("Traceback")


@contextlib.contextmanager
def lab() -> Iterator[Lab]:
    """Start the gateway (API key, the default stack with tools/call at TOOL_TIMEOUT)."""
    with Processes() as procs:
        stack = (
            "middleware.telemetry.access_log:AccessLog",
            {
                "use": "middleware.timeouts:Timeouts",
                "options": {"default": 10, "methods": {"tools/call": TOOL_TIMEOUT}},
            },
            "middleware.limits:ProgressThrottle",
            "middleware.limits:ResultLimits",
        )
        config = GatewayConfig("reliability", stack=stack)
        servers = {
            "up": upstream("up", procs.dir),
            "victim": upstream("victim", procs.dir),
            "holder": upstream("holder", procs.dir, child=True),
        }
        yield Lab(procs, start_gateway(procs, "reliability", config, servers))


# --- processes ----------------------------------------------------------------------------------


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if stat[0] != "Z":
                    parents[int(entry)] = int(stat[1])
    return parents


def descendants(pid: int) -> set[int]:
    """Every live (non-zombie) process below ``pid``."""
    parents = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return stat[0] != "Z"


async def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll ``condition()`` until it holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


# --- clients ------------------------------------------------------------------------------------


def messages(headers: Mapping[bytes, bytes], body: bytes) -> list[Any]:
    """The JSON messages of an answer: its JSON body, or each ``data:`` of its SSE events.
    Raises ValueError when a body that claims JSON is not JSON."""
    if headers.get(b"content-type", b"").startswith(b"text/event-stream"):
        found = []
        for line in body.split(b"\n"):
            if line.startswith(b"data:") and line[5:].strip():
                found.append(orjson.loads(line[5:]))
        return found
    return [orjson.loads(body)] if body else []


class Client:
    """One keep-alive connection speaking one era: ``legacy`` opens a session first."""

    def __init__(self, port: int, era: Era, path: str = "/mcp") -> None:
        self.port, self.era, self.path = port, era, path
        self._ids = itertools.count(1)
        self._connection: HttpConnection | None = None
        self._session = b""

    async def _connect(self) -> HttpConnection:
        if self._connection is None:
            self._connection = await HttpConnection.open(self.port, self.path, mcp_headers(True))
            self._session = await open_session(self._connection) if self.era == "legacy" else b""
        return self._connection

    @property
    def session_id(self) -> str:
        for line in self._session.split(b"\r\n"):
            if line.lower().startswith(b"mcp-session-id:"):
                return line.split(b":", 1)[1].strip().decode()
        return ""

    async def request(self, method: str, params: Mapping[str, Any]) -> tuple[int, dict[bytes, bytes], bytes]:
        connection = await self._connect()
        tail = request_tail(method, params, self.era)
        extra = self._session if self.era == "legacy" else header_lines(mirrored_headers(tail))
        try:
            return await connection.post(request_body(next(self._ids), tail), extra)
        except ConnectionError:
            self.close()
            raise

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> Any:
        """A tools/call; the final JSON-RPC message of the answer (result or error)."""
        status, headers, body = await self.request("tools/call", {"name": tool, "arguments": arguments})
        found = messages(headers, body)
        final = [m for m in found if isinstance(m, dict) and ("result" in m or "error" in m)]
        if not final:
            raise RuntimeError(f"tools/call {tool} answered {status} without a response: {body[:300]!r}")
        return final[-1]

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None


def ok(message: Any) -> bool:
    """A successful tool result (no JSON-RPC error, not isError)."""
    return isinstance(message, dict) and "result" in message and not message["result"].get("isError")


def text(message: Any) -> str:
    return str(message["result"]["content"][0]["text"])


@contextlib.asynccontextmanager
async def clients(port: int, *eras: Era) -> AsyncIterator[list[Client]]:
    made = [Client(port, era) for era in eras]
    try:
        yield made
    finally:
        for client in made:
            client.close()


# --- raw exchanges ------------------------------------------------------------------------------


@dataclass
class Exchange:
    """What came back for raw bytes: a parsed HTTP answer, or none (closed or timed out)."""

    status: int | None
    headers: dict[bytes, bytes]
    body: bytes
    timed_out: bool = False


class _Parsed:
    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.chunks: list[bytes] = []
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


def parse_answer(raw: bytes) -> Exchange:
    if not raw:
        return Exchange(None, {}, b"")
    parsed = _Parsed()
    parser = httptools.HttpResponseParser(parsed)
    try:
        parser.feed_data(raw)
    except httptools.HttpParserError:
        return Exchange(-1, {}, raw[:200])
    return Exchange(parser.get_status_code(), parsed.headers, b"".join(parsed.chunks))


async def exchange(port: int, raw: bytes, timeout: float) -> Exchange:
    """Send ``raw`` on a fresh connection and read until the server closes or ``timeout``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = bytearray()
    timed_out = False
    try:
        writer.write(raw)
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                received += chunk
    except TimeoutError:
        timed_out = True
    except ConnectionError:
        pass
    finally:
        writer.transport.abort()
    answer = parse_answer(bytes(received))
    answer.timed_out = timed_out
    return answer


def auth_header() -> str:
    return f"Bearer {API_KEY}"
