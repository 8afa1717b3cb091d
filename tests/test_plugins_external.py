"""External plugins: MCP plugin servers reached as supervised upstreams. ContextForge's own
runtime (``python -m cpex.framework.external.mcp.server.runtime``) over stdio and over HTTP, and a
server of the specification's shape; blocks, answers, a crash and restart, and a server that
cannot start."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.plugin_servers import SupervisedPluginServer
from middleware.plugins import PluginConfigError, PluginManager, Plugins
from middleware.protocol.testing import call, make_test_scope
from tests.plugin_support import Echo, initialize_when_listening
from tests.support import ROOT, free_port
from upstream.transports.reaper import Reaper

pytestmark = pytest.mark.timeout(120)

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
RUNTIME = [sys.executable, "-m", "cpex.framework.external.mcp.server.runtime"]
SERVER_SIDE = {
    "plugins": [
        {
            "name": "SecretsDetection",
            "kind": "cpex_secrets_detection.secrets_detection.SecretsDetectionPlugin",
            "hooks": ["tool_pre_invoke", "tool_post_invoke"],
            "mode": "sequential",
            "priority": 10,
        }
    ]
}


def manager_for(tmp_path: Path, entries: list[dict[str, Any]], **settings: Any) -> PluginManager:
    path = tmp_path / "plugins.yaml"
    path.write_text(
        yaml.safe_dump(
            {"plugins": entries, "plugin_settings": settings} if settings else {"plugins": entries}
        )
    )
    reaper = Reaper()
    return PluginManager.from_file(path, lambda entry: SupervisedPluginServer(entry, reaper))


async def tool_call(manager: PluginManager, text: str) -> tuple[dict[str, Any], Echo]:
    echo = Echo()
    events = await call(
        Plugins(echo, manager.executor),
        make_test_scope("tools/call", {"name": "echo", "arguments": {"text": text}}),
    )
    return events[-1]["message"]["result"], echo


def server_side(tmp_path: Path) -> Path:
    path = tmp_path / "server-plugins.yaml"
    path.write_text(yaml.safe_dump(SERVER_SIDE))
    return path


async def test_cpex_runtime_over_stdio_blocks_and_learns_its_config_from_the_server(tmp_path: Path) -> None:
    entry = {
        "name": "SecretsDetection",
        "kind": "external",
        "mcp": {
            "proto": "STDIO",
            "cmd": RUNTIME,
            "env": {"PLUGINS_CONFIG_PATH": str(server_side(tmp_path)), "PLUGINS_TRANSPORT": "stdio"},
        },
    }
    manager = manager_for(tmp_path, [entry])
    await manager.initialize()
    try:
        plugin = manager.plugins[0]
        assert plugin.config.hooks == ["tool_pre_invoke", "tool_post_invoke"]  # from the server
        assert plugin.config.priority == 10
        result, echo = await tool_call(manager, f"key={AWS_KEY}")
        assert (
            result["isError"]
            and "Blocked by plugin SecretsDetection: SECRETS_DETECTED" in result["content"][0]["text"]
        )
        assert echo.asked == []
        result, echo = await tool_call(manager, "nothing secret")
        assert not result["isError"] and len(echo.asked) == 1
    finally:
        await manager.shutdown()


@pytest.fixture
def http_runtime(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "PLUGINS_CONFIG_PATH": str(server_side(tmp_path)),
        "PLUGINS_TRANSPORT": "http",
        "PLUGINS_SERVER_HOST": "127.0.0.1",
        "PLUGINS_SERVER_PORT": str(port),
    }
    process = subprocess.Popen(
        [*RUNTIME], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


async def test_cpex_runtime_over_http(tmp_path: Path, http_runtime: str) -> None:
    entry = {
        "name": "SecretsDetection",
        "kind": "external",
        "mcp": {"proto": "STREAMABLEHTTP", "url": http_runtime},
    }
    manager = manager_for(tmp_path, [entry])
    await initialize_when_listening(manager, "the cpex runtime")
    try:
        result, _ = await tool_call(manager, f"key={AWS_KEY}")
        assert result["isError"] and "SECRETS_DETECTED" in result["content"][0]["text"]
    finally:
        await manager.shutdown()


async def test_a_spec_shaped_plugin_server(tmp_path: Path) -> None:
    script = str(ROOT / "tests" / "fixtures" / "spec_plugin_server.py")
    entry = {
        "name": "Guard",
        "kind": "external",
        "mode": "enforce",
        "mcp": {"proto": "stdio", "script": script},
    }
    manager = manager_for(tmp_path, [entry])
    await manager.initialize()
    try:
        assert manager.plugins[0].config.priority == 15  # from the server's get_plugin_config
        result, echo = await tool_call(manager, "forbidden fruit")
        assert result["content"][0]["text"] == "Blocked by plugin Guard: SPEC_FORBIDDEN: forbidden word"
        result, echo = await tool_call(manager, "fine")
        assert not result["isError"] and len(echo.asked) == 1
        # The server dies mid-hook: that call fails closed, the next one finds it restarted.
        result, echo = await tool_call(manager, "crash")
        assert result["isError"] and "Guard: PLUGIN_ERROR" in result["content"][0]["text"]
        assert echo.asked == []
        result, echo = await tool_call(manager, "fine again")
        assert not result["isError"] and len(echo.asked) == 1
    finally:
        await manager.shutdown()


async def test_an_external_plugin_that_cannot_start_stops_the_gateway_start(
    tmp_path: Path,
) -> None:
    entry = {
        "name": "Ghost",
        "kind": "external",
        "mcp": {"proto": "STDIO", "cmd": ["/nonexistent/plugin-server"]},
    }
    manager = manager_for(tmp_path, [entry])
    with pytest.raises(PluginConfigError) as refused:
        await manager.initialize()
    assert "plugins (Ghost): initialize() failed" in refused.value.problems[0]
    await manager.shutdown()


async def test_a_plugin_server_written_with_the_typescript_sdk(tmp_path: Path) -> None:
    node = ROOT / ".tools" / "node" / "bin" / "node"
    if not node.exists():
        pytest.skip("the Node tools are not installed (tests/tools/install-node-tools.sh)")
    script = ROOT / "tests" / "fixtures" / "ts_plugin_server.cjs"
    env = {"NODE_PATH": str(ROOT / ".tools" / "npm" / "node_modules")}
    entry = {
        "name": "TsGuard",
        "kind": "external",
        "mcp": {"proto": "STDIO", "cmd": [str(node), str(script)], "env": env},
    }
    manager = manager_for(tmp_path, [entry])
    await manager.initialize()
    try:
        assert manager.plugins[0].config.priority == 7
        result, echo = await tool_call(manager, "forbidden fruit")
        assert result["content"][0]["text"] == "Blocked by plugin TsGuard: TS_FORBIDDEN: forbidden word"
        assert echo.asked == []
        result, echo = await tool_call(manager, "quiet please")
        assert echo.asked[0]["arguments"] == {"text": "QUIET PLEASE"}
    finally:
        await manager.shutdown()


def test_plugins_list_reports_each_external_servers_health(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli import main

    script = str(ROOT / "tests" / "fixtures" / "spec_plugin_server.py")
    entries = [
        {"name": "Guard", "kind": "external", "mcp": {"proto": "STDIO", "script": script}},
        {
            "name": "Ghost",
            "kind": "external",
            "mcp": {"proto": "STDIO", "cmd": ["/nonexistent/plugin-server"]},
        },
    ]
    path = tmp_path / "plugins.yaml"
    path.write_text(yaml.safe_dump({"plugins": entries}))
    assert main(["plugins", "list", "--config", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "server: healthy (spec server; hooks: tool_pre_invoke)" in shown
    assert "server: unhealthy: upstream server 'plugin-Ghost' failed to start" in shown


async def test_a_plugin_server_over_http_and_sse(tmp_path: Path) -> None:
    port = free_port()
    script = str(ROOT / "tests" / "fixtures" / "spec_plugin_server.py")
    process = subprocess.Popen(
        [sys.executable, script, "--sse", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        entry = {
            "name": "Guard",
            "kind": "external",
            "mcp": {"proto": "sse", "url": f"http://127.0.0.1:{port}/sse"},
        }
        manager = manager_for(tmp_path, [entry])
        await initialize_when_listening(manager, "the SSE plugin server")
        try:
            result, echo = await tool_call(manager, "forbidden fruit")
            assert result["content"][0]["text"] == "Blocked by plugin Guard: SPEC_FORBIDDEN: forbidden word"
            result, echo = await tool_call(manager, "fine")
            assert not result["isError"] and len(echo.asked) == 1
        finally:
            await manager.shutdown()
    finally:
        process.terminate()
        process.wait(10)
