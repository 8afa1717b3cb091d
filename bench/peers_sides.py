"""The sides :mod:`bench.peers` compares: the echo server called directly, Portcullis, and each
peer gateway started and configured as its documentation says (or with one documented setting
changed: a :class:`Variant`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.harness import (
    API_KEY,
    GatewayConfig,
    Load,
    Processes,
    ProcStats,
    Service,
    start_gateway,
    wait_http,
)
from bench.peers_install import CONTEXTFORGE, ENKRYPT, Peer, run

ECHO_TEXT = "hello"
EXPECTED = b"s1:" + ECHO_TEXT.encode()
"""What the echo server answers (its name is s1): every side's result must carry it."""
TOOL_ERROR = b'"isError":true'
PORTCULLIS_CONFIG = GatewayConfig("API key auth, default stack, log level warning", log_level="warning")
CALL_TIMEOUT = 120.0
"""Seconds one call may take before the run is declared broken (Enkrypt's stall is 30 s)."""
ENKRYPT_PORT = 8000
"""Enkrypt's gateway binds port 8000 whatever its configuration says (set in its gateway.py)."""


@dataclass(frozen=True)
class Variant:
    """A peer as configured for one side: its defaults, or one documented setting changed."""

    peer: Peer
    label: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    """ContextForge: environment variables; Enkrypt: keys of ``common_mcp_gateway_config``."""


VARIANTS = {
    "contextforge": Variant(CONTEXTFORGE, CONTEXTFORGE.label),
    "contextforge-stateful": Variant(
        CONTEXTFORGE, f"{CONTEXTFORGE.label}, stateful sessions", {"USE_STATEFUL_SESSIONS": "true"}
    ),
    "enkrypt": Variant(ENKRYPT, ENKRYPT.label),
    "enkrypt-nopool": Variant(ENKRYPT, f"{ENKRYPT.label}, session pool off", {"session_pool_enabled": False}),
}
DEFAULT_VARIANTS = ("contextforge", "contextforge-stateful", "enkrypt")
"""Enkrypt always binds port 8000, so one Enkrypt variant per run: ``--peers enkrypt-nopool``."""


class TreeStats(ProcStats):
    """CPU time of a process and of its live descendants (ContextForge keeps a pool of four worker
    processes beside its server); memory stays the main process's."""

    def descendants(self, pid: int) -> list[int]:
        found = []
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                for child in children.read_text().split():
                    found += [int(child), *self.descendants(int(child))]
        return found

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in [self.pid, *self.descendants(self.pid)]:
            with contextlib.suppress(OSError):
                total += ProcStats(pid).cpu_seconds()
        return total


# --- the sides ------------------------------------------------------------------------------------


@dataclass
class Side:
    """One way to reach the echo tool: an MCP endpoint, its headers, and the request it takes."""

    label: str
    port: int
    path: str
    headers: dict[str, str]
    tool: str
    arguments: dict[str, Any]
    process: Service | None
    """The gateway whose CPU is measured (None: the direct side)."""
    config: str = ""
    upstream: Service | None = None
    """The echo server, whose CPU per call is measured too (what the side asks of it)."""
    loads: dict[int, Load] = field(default_factory=dict)
    upstream_us: dict[int, float] = field(default_factory=dict)
    log_bytes: dict[int, float] = field(default_factory=dict)
    """What the gateway wrote to its log (stdout and stderr, to a file) per call."""

    def log_size(self) -> int:
        return self.process.log_path.stat().st_size if self.process is not None else 0

    @property
    def tail(self) -> bytes:
        params = {"name": self.tool, "arguments": self.arguments}
        return orjson.dumps({"method": "tools/call", "params": params})[1:]


def echo_arguments() -> dict[str, Any]:
    return {"text": ECHO_TEXT}


def direct_side(echo: Service) -> Side:
    assert echo.port is not None
    return Side("direct (no gateway)", echo.port, "/mcp", {}, "echo", echo_arguments(), None)


def portcullis_side(procs: Processes, echo_url: str) -> Side:
    service = start_gateway(procs, "portcullis", PORTCULLIS_CONFIG, {"s1": {"url": echo_url}})
    assert service.port is not None
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return Side(
        "Portcullis", service.port, "/mcp", headers, "s1__echo", echo_arguments(), service,
        config=PORTCULLIS_CONFIG.label,
    )  # fmt: skip


def wait_ready(service: Service, path: str, timeout: float = 240.0) -> Service:
    assert service.port is not None
    wait_http(service, service.port, path, timeout)
    return service


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ContextForge: an admin REST API registers the upstream ("gateway") and a virtual server that
# bundles its echo tool; MCP clients reach that virtual server with a JWT.

CONTEXTFORGE_SETTINGS = {
    "DATABASE_URL": "sqlite:///{dir}/mcp.db",  # the default backend, in our scratch directory
    "SSRF_ALLOW_LOCALHOST": "true",  # the upstream is on 127.0.0.1, which its SSRF guard refuses
    "RATE_LIMITING_ENABLED": "false",  # 100 MCP requests per minute per user by default
    "PLUGINS_ENABLED": "false",  # its default, said aloud
}


def contextforge_env(scratch: Path) -> dict[str, str]:
    """Its own secret generator (``mcpgateway.scripts.init_secrets``), then our settings."""
    run([CONTEXTFORGE.bin / "python", "-m", "mcpgateway.scripts.init_secrets", "--force"], cwd=scratch)
    env = {}
    for line in (scratch / ".env.secrets").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            env[name.strip()] = value.strip()
    env.update({name: value.format(dir=scratch) for name, value in CONTEXTFORGE_SETTINGS.items()})
    return env


async def admin_call(port: int, token: str, method: str, path: str, body: Any = None) -> Any:
    """One request to a peer's admin REST API (a fresh connection: not on the measured path)."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    payload = orjson.dumps(body) if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(payload)}")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 120)
    finally:
        writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        content = dechunk(content)
    if status >= 300:
        raise RuntimeError(f"{method} {path} answered {status}: {content[:500]!r}")
    return orjson.loads(content) if content else None


def dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)


async def contextforge_side(procs: Processes, echo_url: str, variant: Variant) -> Side:
    scratch = procs.dir / variant.label.replace(" ", "-").replace(",", "")
    scratch.mkdir()
    env = {**contextforge_env(scratch), **variant.settings}
    port = free_port()
    argv = [CONTEXTFORGE.bin / "mcpgateway", "--host", "127.0.0.1", "--port", str(port)]
    service = procs.start(
        scratch.name, [str(a) for a in argv], port=port, ready_path=None, cwd=scratch, env=env, wait=False
    )
    wait_ready(service, "/health")
    token = run(
        [CONTEXTFORGE.bin / "python", "-m", "mcpgateway.utils.create_jwt_token",
         "--username", "admin@example.com", "--exp", "10080", "--secret", env["JWT_SECRET_KEY"]],
        env=env, cwd=scratch,
    ).strip().splitlines()[0]  # fmt: skip
    upstream = {"name": "s1", "url": echo_url, "transport": "STREAMABLEHTTP"}
    gateway = await admin_call(port, token, "POST", "/gateways", upstream)
    tools = await admin_call(port, token, "GET", "/tools")
    echo = next(t for t in tools if t.get("gatewayId") == gateway["id"] and t.get("originalName") == "echo")
    bundle = {
        "server": {"name": "bench", "description": "the bench's echo", "associated_tools": [echo["id"]]}
    }
    server = await admin_call(port, token, "POST", "/servers", bundle)
    config = (
        "JWT (its `create_jwt_token`, HS256, the bootstrap admin), SQLite, "
        + ", ".join(
            f"`{name}={value}`" for name, value in CONTEXTFORGE_SETTINGS.items() if name != "DATABASE_URL"
        )
        + "".join(f", `{name}={value}`" for name, value in variant.settings.items())
        + f"; upstream registered as a gateway (`STREAMABLEHTTP`), tool `{echo['name']}` in a virtual server"
    )
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/servers/{server['id']}/mcp"  # its README's client URL
    return Side(variant.label, port, path, headers, echo["name"], echo_arguments(), service, config)


# Enkrypt: a JSON config file ($HOME/.enkrypt/enkrypt_mcp_config.json) written by its CLI; MCP
# clients present the gateway key in an ``apikey`` header and call its enkrypt_secure_call_tools.

ENKRYPT_NOT_DOCKER = "import secure_mcp_gateway.utils as u; u.is_docker = lambda: False; "
"""This machine runs in a container (/.dockerenv), which Enkrypt takes for its own Docker image: it
then reads its config from /app/.enkrypt/docker/ only. Told it is not in Docker, it reads
$HOME/.enkrypt/, which we point at a scratch directory. Nothing else of it is touched."""
ENKRYPT_CLI = ENKRYPT_NOT_DOCKER + (
    "import sys; sys.argv[0] = 'secure-mcp-gateway'; from secure_mcp_gateway.cli import main; main()"
)
ENKRYPT_GATEWAY = ENKRYPT_NOT_DOCKER + (
    "import importlib.util, runpy, sys; "
    "path = importlib.util.find_spec('secure_mcp_gateway.gateway').origin; "
    "sys.argv = [path]; runpy.run_path(path, run_name='__main__')"
)


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def enkrypt_configure(home: Path, echo_url: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """``generate-config``, ``config add-server`` (the echo server by URL), ``config
    remove-server`` (the generated example), then telemetry off (no collector here)."""
    cli: list[str | Path] = [ENKRYPT.bin / "python", "-c", ENKRYPT_CLI]
    env = {"HOME": str(home)}
    run([*cli, "generate-config"], env=env)
    run(
        [*cli, "config", "add-server", "--config-name", "default_config", "--server-name", "s1",
         "--server-url", echo_url, "--transport", "streamable_http"],
        env=env,
    )  # fmt: skip
    path = home / ".enkrypt" / "enkrypt_mcp_config.json"
    config: dict[str, Any] = json.loads(path.read_text())
    for server in next(iter(config["mcp_configs"].values()))["mcp_config"]:
        if server["server_name"] != "s1":
            run([*cli, "config", "remove-server", "--config-name", "default_config",
                 "--server-name", server["server_name"]], env=env)  # fmt: skip
    config = json.loads(path.read_text())
    config["plugins"]["telemetry"]["config"]["enabled"] = False
    config["common_mcp_gateway_config"].update(settings)
    path.write_text(json.dumps(config, indent=2))
    return config


def enkrypt_side(procs: Processes, echo_url: str, variant: Variant) -> Side:
    if port_in_use(ENKRYPT_PORT):
        raise RuntimeError(f"port {ENKRYPT_PORT}, which Enkrypt's gateway always binds, is taken")
    home = procs.dir / "enkrypt-home"
    home.mkdir()
    config = enkrypt_configure(home, echo_url, variant.settings)
    server = next(iter(config["mcp_configs"].values()))["mcp_config"][0]
    guards = (server["input_guardrails_config"]["enabled"], server["output_guardrails_config"]["enabled"])
    if any(guards):
        raise RuntimeError(f"Enkrypt's generated config has guardrails on: {guards}")
    env = {"HOME": str(home), "ENKRYPT_GATEWAY_HOST": "127.0.0.1"}
    service = procs.start(
        "enkrypt",
        [str(ENKRYPT.bin / "python"), "-c", ENKRYPT_GATEWAY],
        port=ENKRYPT_PORT,
        ready_path=None,
        cwd=home,
        env=env,
        wait=False,
    )
    wait_ready(service, "/mcp/")
    key = next(iter(config["apikeys"]))
    arguments = {"server_name": "s1", "tool_calls": [{"name": "echo", "args": echo_arguments()}]}
    described = (
        "gateway key (`local_apikey` provider, the generated key) in an `apikey` header; "
        "config from `generate-config` + `config add-server --server-url ... --transport streamable_http`; "
        "input and output guardrails off (as generated), telemetry off (no OTLP collector here), "
        "log level INFO (as generated), to a file"
        + "".join(f", `{name}: {json.dumps(value)}`" for name, value in variant.settings.items())
    )
    return Side(
        variant.label, ENKRYPT_PORT, "/mcp/", {"apikey": key}, "enkrypt_secure_call_tools", arguments,
        service, described,
    )  # fmt: skip
