"""The attack catalogue through the gateway with the default (balanced) guardrails: one malicious
server per vector (tests/fixtures/malicious_server.py), over stdio and streamable HTTP, called by
the ``mcp`` SDK client in both protocol eras. Each vector gets its expected verdict, and every
server's benign ``control`` tool comes back byte-identical."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import MCPError, types

from tests.fixtures.malicious_server import AWS_KEY, AWS_SECRET, CARD, CONTROL_TEXT, EMAIL, VECTORS
from tests.support import (
    BOB_KEY,
    ROOT,
    RunningGateway,
    default_settings,
    free_port,
    running_gateway,
    text_of,
)

SERVER = ROOT / "tests" / "fixtures" / "malicious_server.py"
MARK = "io.portcullis/guardrails"
TRANSPORTS = ("stdio", "http")
MODES = ("legacy", "2026-07-28")


def _name(vector: str, transport: str) -> str:
    return vector if transport == "stdio" else f"h{vector}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = tmp_path_factory.mktemp("catalogue")
    upstreams: list[subprocess.Popen[bytes]] = []
    servers: dict[str, Any] = {}
    for vector in VECTORS:
        extra = ["--announce"] if vector == "rug_pull" else []
        servers[vector] = {"command": "python", "args": [str(SERVER), "--vector", vector, *extra]}
        port = free_port()
        upstreams.append(
            subprocess.Popen(
                [sys.executable, str(SERVER), "--vector", vector, "--http", str(port), *extra],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        servers[f"h{vector}"] = {"url": f"http://127.0.0.1:{port}/mcp", "startup_timeout": 60}
    servers["silent"] = {"command": "python", "args": [str(SERVER), "--vector", "rug_pull"]}
    asking = ROOT / "tests" / "fixtures" / "asking_server.py"
    servers["asking"] = {"command": "python", "args": [str(asking)], "era": "legacy"}  # asks mid-call
    settings = default_settings(servers, guardrails={"store": str(tmp / "state.db")})
    try:
        with running_gateway(tmp, settings) as running:
            yield running
    finally:
        for process in upstreams:
            process.terminate()
            process.wait(10)


def _marks(result: types.CallToolResult) -> list[dict[str, str]]:
    meta = result.meta or {}
    found: list[dict[str, str]] = meta.get(MARK, {}).get("findings", [])
    return found


async def _names(client: Any) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_every_control_tool_comes_back_byte_identical(
    gateway: RunningGateway, transport: str, mode: str
) -> None:
    async with gateway.client(mode=mode) as client:
        for vector in VECTORS:
            result = await client.call_tool(f"{_name(vector, transport)}__control", {})
            assert text_of(result) == CONTROL_TEXT, vector
            assert not result.is_error and not _marks(result), vector
            assert result.structured_content == {"result": CONTROL_TEXT}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_poisoned_and_confusable_definitions_are_quarantined(
    gateway: RunningGateway, transport: str, mode: str
) -> None:
    poisoned, confusable = _name("poisoned", transport), _name("confusable", transport)
    async with gateway.client(mode=mode) as client:
        names = await _names(client)
        assert f"{poisoned}__weather" not in names  # hidden instruction in the description
        assert f"{poisoned}__translate" not in names  # hidden in an enum of its schema
        assert f"{confusable}__re\u0430d_file" not in names  # Cyrillic look-alike of read_file
        assert {f"{poisoned}__control", f"{confusable}__read_file"} <= names
        refused = await client.call_tool(f"{poisoned}__weather", {"city": "Oslo"})
        assert refused.is_error and "quarantined" in text_of(refused)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_injection_is_flagged_and_neutralised_in_every_result_channel(
    gateway: RunningGateway, transport: str, mode: str
) -> None:
    server = _name("injection", transport)
    async with gateway.client(mode=mode) as client:
        page = await client.call_tool(f"{server}__page", {})
        assert text_of(page).startswith("[Portcullis flagged: injection]")
        assert "collector.evil.example/pixel.png?data" not in text_of(page)  # exfiltration link defused
        assert any(mark["detector"] == "injection" for mark in _marks(page))
        for tool in ("record", "embedded", "failing"):
            result = await client.call_tool(f"{server}__{tool}", {})
            assert _marks(result), tool
        hidden = await client.call_tool(f"{server}__hidden", {})
        assert not any(0xE0000 <= ord(char) <= 0xE007F for char in text_of(hidden))
    async with gateway.client(mode=mode, url=gateway.server_url(server)) as client:  # its own endpoint
        read = await client.read_resource("docs://readme")
        assert MARK in (read.meta or {})
        prompt = await client.get_prompt("summarise", {})
        assert MARK in (prompt.meta or {})


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_secrets_and_pii_are_redacted_and_restored_only_for_their_principal(
    gateway: RunningGateway, transport: str, mode: str
) -> None:
    server = _name("leaky", transport)
    async with gateway.client(mode=mode) as client:
        dump = text_of(await client.call_tool(f"{server}__config_dump", {}))
        assert AWS_KEY not in dump and AWS_SECRET not in dump and "region=eu-west-1" in dump
        customer = await client.call_tool(f"{server}__customer", {})
        whole = json.dumps([text_of(customer), customer.structured_content])
        assert EMAIL not in whole and CARD not in whole and "Marta" in whole
        placeholder = customer.structured_content["email"] if customer.structured_content else ""
        assert placeholder.startswith("redacted-") and placeholder.endswith(
            "@pii.invalid"
        )  # still an address
        account = await client.call_tool(f"{server}__account", {})  # the card's pattern cannot hold
        assert account.is_error and account.structured_content is None
        assert EMAIL not in str(account.content) and "outputSchema at $.card" in str(account.content)
        restored = await client.call_tool(f"{server}__lookup", {"email": placeholder})
        assert text_of(restored) == "lookup on domain example-health.org"
    async with gateway.client(mode=mode, url=gateway.server_url(server)) as client:  # its own endpoint
        contents = await client.read_resource("crm://customer/1")
        assert EMAIL not in json.dumps(contents.model_dump(mode="json"))
        prompt = await client.get_prompt("contact", {})
        assert EMAIL not in json.dumps(prompt.model_dump(mode="json"))
    async with gateway.client(mode=mode, key=BOB_KEY) as other:
        stranger = await other.call_tool(f"{server}__lookup", {"email": placeholder})
        assert text_of(stranger) == "lookup on domain pii.invalid"  # bob cannot restore alice's


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_dangerous_arguments_are_refused_and_exfiltration_is_flagged(
    gateway: RunningGateway, transport: str, mode: str
) -> None:
    ssrf, exfil = _name("ssrf", transport), _name("exfil", transport)
    async with gateway.client(mode=mode) as client:
        for url in (
            "http://169.254.169.254/latest/meta-data/",
            "http://0x7f000001:8080/",
            "gopher://127.1:6379/_",
        ):
            refused = await client.call_tool(f"{ssrf}__fetch", {"url": url})
            assert refused.is_error and "Blocked by plugin guardrail-arguments" in text_of(refused), url
        traversal = await client.call_tool(f"{ssrf}__read", {"path": "../../../../etc/shadow"})
        assert traversal.is_error
        fine = await client.call_tool(f"{ssrf}__read", {"path": "docs/guide.md"})
        assert text_of(fine) == "read docs/guide.md"
        wrong = await client.call_tool(f"{ssrf}__fetch", {"url": 42})
        assert wrong.is_error and "inputSchema" in text_of(wrong)
        sent = await client.call_tool(f"{exfil}__send", {"data": f"key {AWS_KEY} secret {AWS_SECRET}"})
        assert text_of(sent) == "stored" and any(m["detector"] == "secrets" for m in _marks(sent))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_oversized_answers_fail_cleanly(gateway: RunningGateway, transport: str) -> None:
    server = _name("oversized", transport)
    async with gateway.client() as client:
        for tool, limit in (("huge", "max_bytes"), ("deep", "max_depth")):
            with pytest.raises(MCPError) as refused:
                await client.call_tool(f"{server}__{tool}", {})
            assert limit in str(refused.value), tool
        assert text_of(await client.call_tool(f"{server}__control", {})) == CONTROL_TEXT


def _pins(gateway: RunningGateway, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "pins", *args, "--settings", str(gateway.settings_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("server", ["rug_pull", "hrug_pull", "silent"])
async def test_a_rug_pull_quarantines_the_changed_tool_until_approved(
    gateway: RunningGateway, server: str
) -> None:
    async with gateway.client() as client:
        assert f"{server}__convert" in await _names(client)
        assert text_of(await client.call_tool(f"{server}__arm", {})) == "armed"
        deadline = time.monotonic() + 10
        while f"{server}__convert" in await _names(client) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)  # announced: the gateway relists; silent: seen on the next list
        assert f"{server}__convert" not in await _names(client)
        refused = await client.call_tool(f"{server}__convert", {"amount": 1})
        assert refused.is_error and "changed since it was approved" in text_of(refused)
        assert text_of(await client.call_tool(f"{server}__control", {})) == CONTROL_TEXT
        assert f"{server}\ttool\tconvert\tchanged" in _pins(gateway, "list")
        assert '"note": {' in _pins(gateway, "diff", server, "convert")
        assert "approved" in _pins(gateway, "approve", server, "convert")
        deadline = time.monotonic() + 10
        while f"{server}__convert" not in await _names(client) and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        assert text_of(await client.call_tool(f"{server}__convert", {"amount": 1})) == "1.10 USD"


@pytest.mark.parametrize("mode", MODES)
async def test_what_a_server_asks_the_client_is_guarded_too(gateway: RunningGateway, mode: str) -> None:
    """Sampling and elicitation requests are server-to-client channels: personal data in them is
    redacted before the client's model or user sees it, and restored in the answer going back."""
    seen: list[str] = []

    async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        first = params.messages[0].content
        text = first.text if isinstance(first, types.TextContent) else "?"
        seen.append(text)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=f"echo of {text}"), model="m"
        )

    async def elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        seen.append(params.message)
        return types.ElicitResult(action="accept", content={"answer": "forty-two"})

    async with gateway.client(
        mode=mode, sampling_callback=sampling, elicitation_callback=elicitation
    ) as client:
        sampled = await client.call_tool("asking__sample", {"prompt": f"Draft a reply to {EMAIL}"})
        asked = await client.call_tool("asking__ask", {"question": f"Is {EMAIL} your address?"})
    assert len(seen) == 2 and all(EMAIL not in text and "@pii.invalid" in text for text in seen)
    assert EMAIL not in text_of(sampled)
    assert text_of(sampled).startswith("sampled: echo of Draft a reply to redacted-")
    assert text_of(asked) == "answered: forty-two"
