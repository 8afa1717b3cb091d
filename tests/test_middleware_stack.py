"""The MCP-tier stack is set in settings by import path; outside middlewares plug in the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp.types import TextContent

from tests.support import RunningGateway, default_settings, fixture_server, running_gateway

SECRET_ARGUMENT = "do-not-log-this-value-7731"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = default_settings(
        {"alpha": fixture_server("alpha")},
        middleware=[
            {"use": "middleware.telemetry.access_log:AccessLog"},
            {"use": "acme_guard:DenyTools", "options": {"patterns": ["*__crash", "*__pid"]}},
            {"use": "acme_guard:RedactWord", "options": {"word": "alpha"}},
            {"use": "middleware.timeouts:Timeouts", "options": {"default": 10}},
        ],
    )
    with running_gateway(Path(tmp_path_factory.mktemp("guarded")), settings) as running:
        yield running


async def test_third_party_middleware_blocks_and_rewrites(guarded: RunningGateway) -> None:
    async with guarded.client(mode="legacy") as client:
        blocked = await client.call_tool("alpha__crash", {})
        assert blocked.is_error is True
        block = blocked.content[0]
        assert isinstance(block, TextContent)
        assert "not allowed" in block.text
        allowed = await client.call_tool("alpha__echo", {"text": "hello"})
        text = allowed.content[0]
        assert isinstance(text, TextContent)
        assert text.text == "[redacted]:hello"
        # The blocked call never reached the upstream: it is still the same process.
        assert (await client.call_tool("alpha__whoami", {})).is_error is False


async def test_access_log_has_one_line_per_message_and_no_arguments(guarded: RunningGateway) -> None:
    async with guarded.client(mode="legacy") as client:
        await client.call_tool("alpha__echo", {"text": SECRET_ARGUMENT})
        await client.call_tool("alpha__crash", {})
    log = guarded.log()
    lines = [line for line in log.splitlines() if "portcullis.access" in line]
    echo = [line for line in lines if "method=tools/call" in line and "name=echo" in line]
    assert echo, log
    assert "server=alpha" in echo[-1]
    assert "principal=alice" in echo[-1]
    assert "outcome=ok" in echo[-1]
    assert " ms=" in echo[-1]
    assert any("method=tools/call" in line and "outcome=tool_error" in line for line in lines)
    assert any("method=initialize" in line for line in lines)
    assert SECRET_ARGUMENT not in log
    assert "redacted" not in log


async def test_unimportable_middleware_refuses_to_start(tmp_path: Path) -> None:
    settings = default_settings(
        {"alpha": fixture_server("alpha")}, middleware=[{"use": "acme_guard:NoSuchThing"}]
    )
    from tests.support import start_gateway

    gateway = start_gateway(tmp_path, settings, wait=False)
    assert gateway.process.wait(30) != 0
    assert "middleware[0].use" in gateway.log()
    assert "NoSuchThing" in gateway.log()
