"""The benchmark's machinery: processes, /proc readings, a lean HTTP client, load generators.

Nothing here knows the benchmark's matrix; :mod:`bench.run` composes it. All traffic goes to
127.0.0.1, and every load loop is bounded by a duration and a request count.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httptools
import orjson

from middleware.protocol import META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION
from middleware.protocol.headers import request_headers

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable
PROTOCOL = "2025-11-25"
"""What a legacy (handshake-era) client negotiates in initialize."""
MODERN_PROTOCOL = "2026-07-28"
"""What a modern (stateless) client puts in every request's ``_meta`` and headers."""
Era = Literal["legacy", "modern"]
CLIENT_INFO = {"name": "portcullis-bench", "version": "0"}
MODERN_META = {
    META_PROTOCOL_VERSION: MODERN_PROTOCOL,
    META_CLIENT_CAPABILITIES: {},
    META_CLIENT_INFO: CLIENT_INFO,
}
"""The ``params._meta`` of every request of a 2026-07-28 client (no initialize, no session)."""
ACCEPT = "application/json, text/event-stream"
ERROR_MARK = b'"error":{'
"""How a JSON-RPC error shows in a response body (JSON or SSE); tool results never contain it."""
COMPLETE_MARK = b'"resultType":"complete"'
"""What every successful answer to a 2026-07-28 client carries."""
MAX_REQUESTS = 2_000_000
"""Upper bound on the requests of any one load run, whatever its duration."""
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (q in 0..100)."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        memory = f", {kb / 1024 / 1024:.1f} GiB"
    release = os.uname().release
    return f"{os.cpu_count()} cores ({cpu}){memory}, Linux {release}, Python {sys.version.split()[0]}"


# --- /proc --------------------------------------------------------------------------------------


class ProcStats:
    """CPU time and memory of one process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def _status_kb(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
        return 0

    def rss_mb(self) -> float:
        return self._status_kb("VmRSS:") / 1024

    def peak_mb(self) -> float:
        return self._status_kb("VmHWM:") / 1024

    def reset_peak(self) -> bool:
        """Restart the peak-RSS counter (VmHWM) at the current RSS (Linux ``clear_refs`` 5)."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True


@dataclass
class Window:
    """What one process spent over a load run: CPU seconds and peak RSS."""

    stats: ProcStats
    cpu_start: float = 0.0
    cpu: float = 0.0
    rss_before: float = 0.0
    peak: float = 0.0
    peak_exact: bool = True
    _sampler: asyncio.Task[None] | None = None
    _sampled: float = 0.0

    async def __aenter__(self) -> Window:
        self.rss_before = self.stats.rss_mb()
        self.peak_exact = self.stats.reset_peak()
        self._sampled = self.rss_before
        if not self.peak_exact:  # no clear_refs: sample RSS instead
            self._sampler = asyncio.create_task(self._sample())
        self.cpu_start = self.stats.cpu_seconds()
        return self

    async def _sample(self) -> None:
        while True:
            self._sampled = max(self._sampled, self.stats.rss_mb())
            await asyncio.sleep(0.01)

    async def __aexit__(self, *exc: object) -> None:
        self.cpu = self.stats.cpu_seconds() - self.cpu_start
        if self._sampler is not None:
            self._sampler.cancel()
            self.peak = max(self._sampled, self.stats.rss_mb())
        else:
            self.peak = self.stats.peak_mb()


# --- processes ----------------------------------------------------------------------------------


@dataclass
class Service:
    """A process of ours: an upstream server or a gateway."""

    name: str
    process: subprocess.Popen[bytes]
    port: int | None
    log_path: Path
    ready_path: str | None = None

    def ready(self) -> Service:
        """Wait until it answers HTTP (if it serves HTTP)."""
        if self.port is not None and self.ready_path is not None:
            wait_http(self, self.port, self.ready_path)
        return self

    @property
    def stats(self) -> ProcStats:
        return ProcStats(self.process.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class Processes:
    """Starts services into a scratch directory and stops all of them, last first."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="portcullis-bench-")
        self.dir = Path(self._tmp.name)
        self._services: list[Service] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for service in reversed(self._services):
            service.stop()
        self._tmp.cleanup()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int | None,
        ready_path: str | None,
        cwd: Path = ROOT,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> Service:
        """Start a process; unless ``wait`` is false, wait until it answers (see Service.ready)."""
        log_path = self.dir / f"{name}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        service = Service(name, process, port, log_path, ready_path)
        self._services.append(service)
        return service.ready() if wait else service


def wait_http(service: Service, port: int, path: str, timeout: float = 60.0) -> None:
    """Wait until ``GET path`` is answered at all (any status): the server listens."""
    deadline = time.monotonic() + timeout
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited with {service.process.returncode}:\n{service.log()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(request)
            if sock.recv(64).startswith(b"HTTP/1.1 "):
                return
        time.sleep(0.05)
    raise RuntimeError(f"{service.name} did not answer on port {port}:\n{service.log()}")


def start_echo(procs: Processes, name: str, *, wait: bool = True, sse: bool = False) -> Service:
    port = free_port()
    argv = [PYTHON, str(BENCH / "echo_server.py"), "--port", str(port), "--name", name]
    if sse:
        argv.append("--sse")
    return procs.start(f"echo-{name}", argv, port=port, ready_path="/mcp", wait=wait)


def start_sdk_http(procs: Processes, name: str, *, wait: bool = True) -> Service:
    port = free_port()
    argv = [PYTHON, str(BENCH / "sdk_server.py"), "--http", str(port), "--name", name]
    return procs.start(f"sdk-{name}", argv, port=port, ready_path="/mcp", wait=wait)


def sdk_stdio_argv(name: str) -> list[str]:
    return [PYTHON, str(BENCH / "sdk_server.py"), "--name", name]


# --- gateway settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayConfig:
    """One way to run the gateway: auth, MCP-tier stack, log level."""

    label: str
    auth: bool = True
    stack: tuple[str | Mapping[str, Any], ...] | None = None
    """None: the checkout's own built-in stack (no ``[[middleware]]`` list: what a user runs
    without one, limits included), so an A/B of two checkouts measures each as shipped;
    otherwise these import paths (or whole ``{"use": ..., "options": {...}}`` entries)."""
    log_level: str = "info"
    guardrails: str | None = "off"
    """The ``[guardrails] preset`` (None: the checkout's default). "off" by default: the
    benchmarks measure the proxy; the guardrails' own cost is measured with a preset named."""
    extra: str = ""
    """More settings (TOML tables) appended as they are: tenancy, policies, limits, OIDC."""


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{orjson.dumps(k).decode()} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def _entry(use: str | Mapping[str, Any]) -> Mapping[str, Any]:
    return {"use": use} if isinstance(use, str) else use


API_KEY = "pcs_bench_" + secrets.token_urlsafe(24)


def gateway_settings(
    config: GatewayConfig, servers: Mapping[str, Mapping[str, Any]], root: Path = ROOT
) -> str:
    stack = [] if config.stack is None else [_entry(use) for use in config.stack]
    lines = ["middleware = []"] if config.stack is not None and not stack else []
    if config.guardrails is not None and (root / "gateway" / "guardrails.py").exists():
        lines += ["[guardrails]", f"preset = {_toml(config.guardrails)}"]  # a checkout that has them
    lines += ["[auth]", f"enabled = {_toml(config.auth)}"]
    if config.auth:
        digest = hashlib.sha256(API_KEY.encode()).hexdigest()
        lines += ["[[auth.api_keys]]", 'principal = "bench"', f'sha256 = "{digest}"']
    lines += ["[logging]", f'level = "{config.log_level}"']
    for entry in stack:
        lines += ["[[middleware]]", f"use = {_toml(entry['use'])}"]
        if "options" in entry:
            lines.append(f"options = {_toml(entry['options'])}")
    for name, server in servers.items():
        lines.append(f"[servers.{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in server.items()]
    return "\n".join(lines) + "\n" + config.extra


def start_gateway(
    procs: Processes,
    name: str,
    config: GatewayConfig,
    servers: Mapping[str, Mapping[str, Any]],
    *,
    root: Path = ROOT,
    wait: bool = True,
) -> Service:
    """Start ``python -m gateway serve`` from ``root`` (another checkout, to compare a change)."""
    port = free_port()
    settings = procs.dir / f"{name}.toml"
    settings.write_text(gateway_settings(config, servers, root))
    argv = [PYTHON, "-m", "gateway", "serve", "--settings", str(settings), "--port", str(port)]
    env = {"PYTHONPATH": str(root)}
    return procs.start(
        f"gateway-{name}", argv, port=port, ready_path="/healthz", cwd=root, env=env, wait=wait
    )


# --- a lean HTTP/1.1 client ---------------------------------------------------------------------


class _Answer(asyncio.Protocol):
    """httptools parses what the server sends (Content-Length or chunked, JSON or SSE)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, dict[bytes, bytes], bytes]] | None = None
        self.headers: dict[bytes, bytes] = {}
        self.chunks: list[bytes] = []
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"connection lost: {exc}"))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        answer = (self.status, self.headers, body)
        self.headers, self.chunks = {}, []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(answer)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection, one request at a time: a few µs of client CPU."""

    def __init__(self, protocol: _Answer, head: bytes) -> None:
        self._protocol = protocol
        self._head = head

    @classmethod
    async def open(cls, port: int, path: str, headers: Mapping[str, str]) -> HttpConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Answer, "127.0.0.1", port)
        lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return cls(protocol, ("\r\n".join(lines) + "\r\n").encode())

    async def post(self, body: bytes, extra: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
        protocol = self._protocol
        assert protocol.transport is not None
        protocol.waiter = asyncio.get_running_loop().create_future()
        protocol.transport.write(
            self._head + extra + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        return await protocol.waiter

    def close(self) -> None:
        if self._protocol.transport is not None:
            self._protocol.transport.close()


def mcp_headers(auth: bool | str) -> dict[str, str]:
    headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = f"Bearer {API_KEY if auth is True else auth}"
    return headers


INITIALIZE = orjson.dumps(
    {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": CLIENT_INFO,
        },
    }
)
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'


async def open_session(connection: HttpConnection) -> bytes:
    """initialize + notifications/initialized; returns the header lines that name the session."""
    status, headers, body = await connection.post(INITIALIZE)
    if status != 200 or b"mcp-session-id" not in headers:
        raise RuntimeError(f"initialize answered {status}: {body[:300]!r}")
    extra = (
        b"Mcp-Session-Id: "
        + headers[b"mcp-session-id"]
        + f"\r\nMCP-Protocol-Version: {PROTOCOL}\r\n".encode()
    )
    status, _, body = await connection.post(INITIALIZED, extra)
    if status not in (200, 202):
        raise RuntimeError(f"notifications/initialized answered {status}: {body[:300]!r}")
    return extra


# --- what a client asks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """Where a load goes: an HTTP MCP endpoint, with the tool-name prefix it needs, and the
    protocol era its clients speak: ``legacy`` opens a session per connection (initialize),
    ``modern`` (2026-07-28) sends every request on its own, with ``_meta`` and mirrored headers."""

    label: str
    port: int
    path: str = "/mcp"
    auth: bool | str = False
    """True: the bench's API key; a string: that bearer credential (a JWT, a tenancy key)."""
    prefix: str = ""
    era: Era = "legacy"

    def succeeded(self, status: int, body: bytes) -> bool:
        """Did a request succeed? HTTP 200 without a JSON-RPC error (and, modern, a complete result)."""
        if status != 200 or ERROR_MARK in body:
            return False
        return self.era == "legacy" or COMPLETE_MARK in body


def request_tail(method: str, params: Mapping[str, Any], era: Era = "legacy") -> bytes:
    """A JSON-RPC request without its opening ``{"jsonrpc":"2.0","id":N,``; a modern
    client's carries :data:`MODERN_META` in ``params._meta``."""
    if era == "modern":
        params = {**params, "_meta": {**MODERN_META, **params.get("_meta", {})}}
    return orjson.dumps({"method": method, "params": params})[1:]


def mirrored_headers(tail: bytes) -> dict[str, str]:
    """The headers a 2026-07-28 client sends with the request ``tail`` (see :func:`request_tail`):
    ``MCP-Protocol-Version``, ``Mcp-Method`` and, for a named method, ``Mcp-Name``."""
    message = orjson.loads(b"{" + tail)
    meta = (message.get("params") or {}).get("_meta") or {}
    if meta.get(META_PROTOCOL_VERSION) != MODERN_PROTOCOL:
        raise ValueError(f"not a 2026-07-28 request (see request_tail): {tail[:200]!r}")
    return request_headers(message, MODERN_PROTOCOL)


def header_lines(headers: Mapping[str, str]) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode()


async def client_headers(connection: HttpConnection, endpoint: Endpoint, tail: bytes) -> bytes:
    """The header lines a client adds to each request of ``tail`` on ``connection``: a legacy
    client opens a session (initialize + initialized) and names it; a modern client opens
    nothing and mirrors the request's method and name."""
    if endpoint.era == "modern":
        return header_lines(mirrored_headers(tail))
    return await open_session(connection)


def request_body(request_id: int, tail: bytes) -> bytes:
    return b'{"jsonrpc":"2.0","id":' + str(request_id).encode() + b"," + tail


# --- load results ---------------------------------------------------------------------------------


@dataclass
class Load:
    """One load run: closed loop, ``concurrency`` clients, for a duration."""

    tool: str
    concurrency: int
    requests: int
    seconds: float
    errors: int
    p50: float
    p95: float
    p99: float
    """Milliseconds."""
    cpu: float | None = None
    """CPU seconds of the measured process (the gateway) over the run."""
    peak_mb: float | None = None
    rss_before_mb: float | None = None
    note: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us(self) -> float | None:
        if self.cpu is None or not self.requests:
            return None
        return self.cpu / self.requests * 1e6


def load_from_latencies(
    tool: str, concurrency: int, seconds: float, latencies: list[float], errors: int
) -> Load:
    ordered = sorted(latencies)
    return Load(
        tool,
        concurrency,
        len(ordered),
        seconds,
        errors,
        percentile(ordered, 50),
        percentile(ordered, 95),
        percentile(ordered, 99),
    )


Call = Callable[[], Awaitable[bool]]
"""One request; True if it succeeded."""


async def closed_loop(
    callers: Sequence[Call], duration: float, max_requests: int = MAX_REQUESTS, tool: str = "python"
) -> Load:
    """Each caller runs requests back to back until the duration or the request budget ends."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration
    budget = itertools.count()

    async def worker(call: Call) -> None:
        nonlocal errors
        clock = time.perf_counter
        while clock() < deadline and next(budget) < max_requests:
            started = clock()
            try:
                ok = await call()
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
                errors += 1
                raise RuntimeError(f"the load generator lost its connection: {exc}") from exc
            latencies.append((clock() - started) * 1000)
            if not ok:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(call) for call in callers))
    seconds = time.perf_counter() - started
    return load_from_latencies(tool, len(callers), seconds, latencies, errors)


@dataclass
class HttpLoad:
    """Connections for a Python closed loop over HTTP, each with what its client adds to every
    request (its own MCP session, or a modern client's mirrored headers; see client_headers)."""

    endpoint: Endpoint
    tail: bytes
    concurrency: int
    connections: list[HttpConnection] = field(default_factory=list)
    extras: list[bytes] = field(default_factory=list)

    async def __aenter__(self) -> HttpLoad:
        for _ in range(self.concurrency):
            connection = await HttpConnection.open(
                self.endpoint.port, self.endpoint.path, mcp_headers(self.endpoint.auth)
            )
            self.connections.append(connection)
            self.extras.append(await client_headers(connection, self.endpoint, self.tail))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for connection in self.connections:
            connection.close()

    def callers(self) -> list[Call]:
        ids = itertools.count(1)

        succeeded = self.endpoint.succeeded

        def caller(connection: HttpConnection, extra: bytes) -> Call:
            async def call() -> bool:
                status, _, body = await connection.post(request_body(next(ids), self.tail), extra)
                return succeeded(status, body)

            return call

        return [caller(c, e) for c, e in zip(self.connections, self.extras, strict=True)]


async def python_http_load(
    endpoint: Endpoint, tail: bytes, concurrency: int, duration: float, window: Window | None = None
) -> Load:
    async with HttpLoad(endpoint, tail, concurrency) as load, window or contextlib.nullcontext():
        return await closed_loop(load.callers(), duration)


# --- wrk --------------------------------------------------------------------------------------------

WRK_SCRIPT = BENCH / "mcp.lua"


def wrk_path() -> str | None:
    return shutil.which("wrk")


async def sessions_for(endpoint: Endpoint, count: int) -> list[str]:
    """Open ``count`` MCP sessions; returns their ids (wrk then spreads requests over them)."""
    connection = await HttpConnection.open(endpoint.port, endpoint.path, mcp_headers(endpoint.auth))
    try:
        ids = []
        for _ in range(count):
            extra = await open_session(connection)
            ids.append(extra.split(b"\r\n", 1)[0].split(b": ", 1)[1].decode())
        return ids
    finally:
        connection.close()


async def wrk_load(
    endpoint: Endpoint, tail: bytes, concurrency: int, duration: float, window: Window | None = None
) -> Load:
    """wrk, one thread (the machine has two cores to share with the servers), ``concurrency``
    connections; legacy requests spread over ``concurrency`` sessions, modern ones carry the
    mirrored headers and no session. The Lua script counts JSON-RPC errors (and modern answers
    that are not complete) and prints the percentiles."""
    wrk = wrk_path()
    assert wrk is not None
    if endpoint.era == "modern":
        sessions: list[str] = []
        era_headers, must_contain = mirrored_headers(tail), COMPLETE_MARK.decode()
    else:
        sessions = await sessions_for(endpoint, min(concurrency, 32))
        era_headers, must_contain = {"MCP-Protocol-Version": PROTOCOL}, ""
    argv = [wrk, "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "30s"]
    argv += ["-s", str(WRK_SCRIPT)]
    for name, value in {**mcp_headers(endpoint.auth), **era_headers}.items():
        argv += ["-H", f"{name}: {value}"]
    argv += [f"http://127.0.0.1:{endpoint.port}{endpoint.path}", "--", ",".join(sessions), tail.decode()]
    argv += [must_contain]
    async with window or contextlib.nullcontext():
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), duration + 60)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
    values: dict[str, float] = {}
    for line in out.decode().splitlines():
        if line.startswith("BENCH "):
            for pair in line.split()[1:]:
                key, _, value = pair.partition("=")
                values[key] = float(value)
    if not values:
        raise RuntimeError(f"wrk printed no result:\n{out.decode()}\n{err.decode()}")
    errors = sum(int(values[key]) for key in ("connect", "read", "write", "status", "timeout", "rpc"))
    return Load(
        "wrk",
        concurrency,
        int(values["requests"]),
        values["duration_us"] / 1e6,
        errors,
        values["p50"] / 1000,
        values["p95"] / 1000,
        values["p99"] / 1000,
    )


async def http_load(
    endpoint: Endpoint,
    tail: bytes,
    concurrency: int,
    duration: float,
    *,
    use_wrk: bool,
    window: Window | None = None,
) -> Load:
    """A closed-loop load; with ``window``, the process it watches is measured over the load
    only (not over opening the sessions)."""
    run = wrk_load if use_wrk else python_http_load
    load = await run(endpoint, tail, concurrency, duration, window)
    if window is not None:
        load.cpu, load.peak_mb, load.rss_before_mb = window.cpu, window.peak, window.rss_before
    return load


# --- stdio, direct ----------------------------------------------------------------------------------


class StdioPipes:
    """The leanest stdio MCP client: JSON lines on the server's pipes, requests pipelined and
    matched to their answers by id, so many can be in flight at once."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> StdioPipes:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            limit=256 * 1024 * 1024,
        )
        self._reader = asyncio.create_task(self._read())
        answer = await self.request(INITIALIZE[INITIALIZE.index(b'"method"') :])
        if ERROR_MARK in answer:
            raise RuntimeError(f"stdio initialize failed: {answer[:300]!r}")
        self._write(INITIALIZED)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), 5)
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()

    def _write(self, line: bytes) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(line + b"\n")

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        while line := await stdout.readline():
            message = orjson.loads(line)
            if "method" in message:
                continue  # a server request or notification: not expected here
            future = self._pending.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(line)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the stdio server closed its output"))

    async def request(self, tail: bytes) -> bytes:
        request_id = next(self._ids)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._write(request_body(request_id, tail))
        assert self.process is not None and self.process.stdin is not None
        await self.process.stdin.drain()
        return await future

    def callers(self, tail: bytes, concurrency: int) -> list[Call]:
        async def call() -> bool:
            return ERROR_MARK not in await self.request(tail)

        return [call] * concurrency
