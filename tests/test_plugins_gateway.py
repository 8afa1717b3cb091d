"""Native plugins through the real gateway, for clients of both protocol eras: blocked and changed
tool calls, refused prompts and resources, hidden tools, the log, and ``portcullis check``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from tests.support import (
    ROOT,
    RunningGateway,
    default_settings,
    fixture_server,
    running_gateway,
    text_of,
    to_toml,
)
from tests.test_modern_front import post, request

pytestmark = pytest.mark.timeout(90)

KIND = "fixtures.sample_plugins"
SECRET = "AKIAIOSFODNN7EXAMPLE"
PLUGINS = f"""
plugins:
  - name: deny
    kind: {KIND}.DenySecrets
    hooks: [tool_pre_invoke]
    priority: 10
  - name: shout
    kind: {KIND}.Shout
    hooks: [tool_pre_invoke]
    priority: 20
    conditions: [{{tools: [echo]}}]
  - name: redact
    kind: {KIND}.RedactEmails
    hooks: [tool_post_invoke]
    mode: permissive
    config: {{mask: "[EMAIL]"}}
  - name: closed
    kind: {KIND}.NoPrompts
    hooks: [prompt_pre_fetch]
  - name: private
    kind: {KIND}.NoInfo
    hooks: [resource_pre_fetch]
  - name: hide
    kind: {KIND}.HideTools
    hooks: [tools_post_list]
    config: {{hide: [files__crash]}}
plugin_settings:
  plugin_timeout: 5
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = tmp_path_factory.mktemp("plugins")
    (tmp / "plugins.yaml").write_text(PLUGINS)
    settings = default_settings(
        {"files": fixture_server("files")},
        plugins={"config": str(tmp / "plugins.yaml")},
        guardrails={"preset": "off"},  # these plugins' own redaction is what is tested
    )
    with running_gateway(tmp, settings) as running:
        yield running


async def test_a_tool_call_is_blocked_changed_and_redacted_by_plugins(gateway: RunningGateway) -> None:
    async with gateway.client() as client:
        blocked = await client.call_tool("files__echo", {"text": f"key {SECRET}"})
        assert blocked.is_error
        assert text_of(blocked) == "Blocked by plugin deny: SECRET_DETECTED: Secret in arguments"
        changed = await client.call_tool("files__echo", {"text": "mail bob@example.com"})
        assert not changed.is_error
        assert text_of(changed) == "files:MAIL [EMAIL]"  # shouted on the way in, redacted on the way out
        untouched = await client.call_tool("files__add", {"a": 2, "b": 3})
        assert text_of(untouched) == "5"  # shout's condition names echo only
    log = gateway.log()
    assert "plugin deny blocked tool_pre_invoke of tool files__echo: [SECRET_DETECTED]" in log
    assert "plugin redact changed the payload of tool_post_invoke of tool files__echo" in log
    assert SECRET not in log and "bob@example.com" not in log


async def test_prompts_and_resources_blocked_by_a_plugin_are_policy_errors(gateway: RunningGateway) -> None:
    async with gateway.client() as client:
        with pytest.raises(MCPError) as refused:
            await client.get_prompt("files__greet", {"name": "x"})
        assert refused.value.error.code == -32050
        assert (
            refused.value.error.message
            == "prompts/get refused by plugin closed: NO_PROMPTS: prompts are closed"
        )
        with pytest.raises(MCPError) as private:
            await client.read_resource("fixture://files/info")
        assert "refused by plugin private: PRIVATE" in private.value.error.message
        item = await client.read_resource("fixture://files/items/7")
        assert "item 7 of files" in str(item.contents[0])


async def test_a_hidden_tool_is_neither_listed_nor_callable(gateway: RunningGateway) -> None:
    async with gateway.client() as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "files__echo" in names and "files__crash" not in names
        refused = await client.call_tool("files__crash", {})
        assert refused.is_error and "TOOL_HIDDEN" in text_of(refused)
        assert text_of(await client.call_tool("files__whoami", {})) == "files"  # the server did not crash


async def test_a_modern_client_meets_the_same_plugins(gateway: RunningGateway) -> None:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as http:
        status, answer = await post(
            http, gateway, request("tools/call", {"name": "files__echo", "arguments": {"text": SECRET}})
        )
        assert status == 200 and answer["result"]["isError"] is True
        assert "SECRET_DETECTED" in answer["result"]["content"][0]["text"]
        status, answer = await post(
            http, gateway, request("tools/call", {"name": "files__echo", "arguments": {"text": "a@b.io"}})
        )
        assert answer["result"]["content"][0]["text"] == "files:[EMAIL]"
        status, answer = await post(
            http, gateway, request("prompts/get", {"name": "files__greet", "arguments": {"name": "x"}})
        )
        assert answer["error"]["code"] == -32050 and answer["error"]["data"]["fault"] == "policy"


def test_check_validates_the_plugin_file_and_serve_refuses_a_broken_one(tmp_path: Path) -> None:
    (tmp_path / "plugins.yaml").write_text(
        textwrap.dedent(f"""
            plugins:
              - {{name: a, kind: {KIND}.Missing, hooks: [tool_pre_invoke]}}
              - {{name: b, kind: {KIND}.Shout, hooks: [tool_pre_invok], priorty: 3}}
            """)
    )
    settings = tmp_path / "settings.toml"
    settings.write_text(to_toml(default_settings({}, plugins={"config": "plugins.yaml"})))
    env = {"PYTHONPATH": str(ROOT / "tests")}
    checked = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "--settings", str(settings)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 2
    assert "plugins[1] (b).priorty: unknown field" in checked.stderr
    (tmp_path / "plugins.yaml").write_text(
        f"plugins: [{{name: a, kind: {KIND}.Missing, hooks: [tool_pre_invoke]}}]"
    )
    checked = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "--settings", str(settings)],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 2 and "(a).kind: cannot import" in checked.stderr
    served = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--settings", str(settings), "--port", "0"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert served.returncode == 2 and "(a).kind: cannot import" in served.stderr


async def test_sampling_an_upstream_asks_is_checked_both_ways_through_the_gateway(tmp_path: Path) -> None:
    from tests.test_client_features import ASKING_SERVER, sampling

    hooks = "[sampling_pre_create, sampling_post_create]"
    (tmp_path / "plugins.yaml").write_text(
        f"plugins: [{{name: guard, kind: {KIND}.SamplingGuard, hooks: {hooks}}}]"
    )
    settings = default_settings({"asking": ASKING_SERVER}, plugins={"config": str(tmp_path / "plugins.yaml")})
    with running_gateway(tmp_path, settings) as running:
        async with running.client(mode="legacy", sampling_callback=sampling) as client:
            sampled = await client.call_tool("asking__sample", {"prompt": "hello"})
            assert (
                text_of(sampled) == "sampled: ECHO OF HELLO"
            )  # the client's answer, changed on its way back
            # The client is never asked; the upstream gets the refusal as its answer and fails the call.
            with pytest.raises(MCPError) as refused:
                await client.call_tool("asking__sample", {"prompt": "my secret"})
            assert "refused by plugin guard: NO_SECRET_SAMPLING" in refused.value.error.message
