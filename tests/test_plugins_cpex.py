"""Plugins written for ContextForge's ``cpex`` framework, loaded by class path through our adapter:
one the tests write, and the real ``cpex-secrets-detection`` and ``cpex-pii-filter`` packages from
PyPI (installed by the test extra), in process and through the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from middleware.plugins import PluginConfigError, PluginManager, Plugins
from middleware.protocol.testing import call, make_test_scope
from tests.plugin_support import Echo
from tests.support import RunningGateway, default_settings, fixture_server, running_gateway, text_of

SECRETS = "cpex_secrets_detection.secrets_detection.SecretsDetectionPlugin"
PII = "cpex_pii_filter.pii_filter.PIIFilterPlugin"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


async def run(
    tmp_path: Path, entries: list[dict[str, Any]], arguments: dict[str, Any]
) -> tuple[dict[str, Any], Echo]:
    path = tmp_path / "plugins.yaml"
    path.write_text(yaml.safe_dump({"plugins": entries}))
    manager = PluginManager.from_file(path)
    await manager.initialize()
    echo = Echo()
    events = await call(
        Plugins(echo, manager.executor),
        make_test_scope("tools/call", {"name": "echo", "arguments": arguments}),
    )
    await manager.shutdown()
    return events[-1]["message"]["result"], echo


async def test_a_cpex_plugin_the_tests_wrote_blocks_changes_and_keeps_state(tmp_path: Path) -> None:
    entry = {
        "name": "tagger",
        "kind": "tests.fixtures.cpex_plugins.TagAndCount",
        "hooks": ["tool_pre_invoke", "tool_post_invoke"],
        "mode": "sequential",
        "config": {"label": "ok"},
    }
    result, echo = await run(tmp_path, [entry], {"text": "hello"})
    assert echo.asked[0]["arguments"] == {"text": "hello [ok]"}
    assert [block["text"] for block in result["content"]] == ["hello [ok]", "seen: echo"]
    result, echo = await run(tmp_path, [entry], {"text": "forbidden"})
    assert (
        result["isError"]
        and result["content"][0]["text"] == "Blocked by plugin tagger: CPEX_FORBIDDEN: forbidden word"
    )
    assert echo.asked == []


async def test_the_real_secrets_detection_package_blocks_an_aws_key(tmp_path: Path) -> None:
    entry = {
        "name": "secrets",
        "kind": SECRETS,
        "hooks": ["tool_pre_invoke", "tool_post_invoke"],
        "mode": "enforce",
    }
    result, echo = await run(tmp_path, [entry], {"text": f"key={AWS_KEY}"})
    assert result["isError"] and "Blocked by plugin secrets: SECRETS_DETECTED" in result["content"][0]["text"]
    assert echo.asked == []
    redacting = {**entry, "config": {"redact": True, "block_on_detection": False}}
    result, echo = await run(tmp_path, [redacting], {"text": f"key={AWS_KEY}"})
    assert echo.asked[0]["arguments"]["text"] == "key=***REDACTED***"


async def test_the_real_pii_filter_package_redacts_an_email_on_the_way_back(tmp_path: Path) -> None:
    entry = {"name": "pii", "kind": PII, "hooks": ["tool_post_invoke"], "mode": "permissive"}
    result, _ = await run(tmp_path, [entry], {"text": "write to alice@example.com"})
    assert result["content"][0]["text"] == "write to [REDACTED]"


def test_a_cpex_plugin_cannot_serve_our_list_hooks(tmp_path: Path) -> None:
    path = tmp_path / "plugins.yaml"
    path.write_text(
        yaml.safe_dump({"plugins": [{"name": "s", "kind": SECRETS, "hooks": ["tools_post_list"]}]})
    )
    with pytest.raises(PluginConfigError) as caught:
        PluginManager.from_file(path)
    assert "SecretsDetectionPlugin has no tools_post_list method" in caught.value.problems[0]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = tmp_path_factory.mktemp("cpex")
    entries = [
        {"name": "secrets", "kind": SECRETS, "hooks": ["tool_pre_invoke"], "mode": "enforce", "priority": 10},
        {"name": "pii", "kind": PII, "hooks": ["tool_post_invoke"], "mode": "permissive", "priority": 20},
    ]
    (tmp / "plugins.yaml").write_text(yaml.safe_dump({"plugins": entries}))
    settings = default_settings(
        {"files": fixture_server("files")},
        plugins={"config": str(tmp / "plugins.yaml")},
        guardrails={"preset": "off"},  # the cpex plugins' own detection is what is tested
    )
    with running_gateway(tmp, settings) as running:
        yield running


async def test_the_real_cpex_packages_run_in_the_gateway(gateway: RunningGateway) -> None:
    async with gateway.client() as client:
        blocked = await client.call_tool("files__echo", {"text": f"key {AWS_KEY}"})
        assert blocked.is_error and "SECRETS_DETECTED" in text_of(blocked)
        redacted = await client.call_tool("files__echo", {"text": "mail bob@example.com"})
        assert text_of(redacted) == "files:mail [REDACTED]"
    assert AWS_KEY not in gateway.log() and "bob@example.com" not in gateway.log()
