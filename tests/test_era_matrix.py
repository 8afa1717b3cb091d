"""The client era x upstream era matrix: the ``mcp`` SDK client in ``mode="2026-07-28"``,
``"legacy"`` and ``"auto"``, each against a legacy and a modern upstream behind one gateway.

Every cell runs the same user-visible checks: a tool with progress, sampling, elicitation and
roots (server requests for legacy clients, MRTR for modern ones, translated whichever way the
upstream speaks), a resource read, a prompt, and a resource subscription that delivers an
update (``subscriptions/listen`` for modern clients, ``resources/subscribe`` for legacy ones).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import types

from tests.support import ROOT, RunningGateway, default_settings, running_gateway, text_of
from tests.test_client_features import elicitation, roots, sampling


@dataclass(frozen=True)
class Upstream:
    """How one fixture spells the same abilities."""

    server: str
    sample: str
    elicit: str
    roots: str
    progress: dict[str, Any]
    resource: str
    touch: tuple[str, dict[str, Any]]
    prompt_argument: str
    prompt_text: str


LEGACY = Upstream(
    server="old",
    sample="old__sample",
    elicit="old__ask",
    roots="old__roots",
    progress={"steps": 3},
    resource="asking://counter",
    touch=("old__bump", {}),
    prompt_argument="name",
    prompt_text="Hello Ada from asking",
)
MODERN = Upstream(
    server="new",
    sample="new__ask_sampling",
    elicit="new__ask_elicitation",
    roots="new__ask_roots",
    progress={"steps": 3, "delay": 0.01},
    resource="modern://modern/counter",
    touch=("new__touch", {"uri": "modern://modern/counter"}),
    prompt_argument="who",
    prompt_text="Hello Ada from modern",
)
MODES = ("2026-07-28", "legacy", "auto")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = Path(tmp_path_factory.mktemp("era-matrix"))
    settings = default_settings(
        {
            # A server written before 2026-07-28: it asks its client mid-call, the legacy way.
            "old": {
                "command": "python",
                "args": [str(ROOT / "tests" / "fixtures" / "asking_server.py")],
                "era": "legacy",
            },
            # A 2026-07-28-only server; the gateway finds its era by itself (server/discover).
            "new": {
                "command": "python",
                "args": [str(ROOT / "tests" / "fixtures" / "modern_server.py"), "--modern-only"],
                "env": {"FIXTURE_CANCEL_LOG": str(tmp / "new-cancelled.log")},
            },
        }
    )
    with running_gateway(tmp, settings) as running:
        running.extra["cancel_log"] = tmp / "new-cancelled.log"
        yield running


def cells() -> list[Any]:
    return [
        pytest.param(mode, upstream, id=f"{mode}-client-{upstream.server}-upstream")
        for mode in MODES
        for upstream in (LEGACY, MODERN)
    ]


@pytest.mark.parametrize(("mode", "upstream"), cells())
async def test_tools_progress_and_questions(gateway: RunningGateway, mode: str, upstream: Upstream) -> None:
    progress: list[float] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async with gateway.client(
        mode=mode, sampling_callback=sampling, elicitation_callback=elicitation, list_roots_callback=roots
    ) as client:
        expected_era = "2026-07-28" if mode != "legacy" else "2025-11-25"
        assert client.protocol_version == expected_era
        result = await client.call_tool(
            upstream.server + "__progress", upstream.progress, progress_callback=on_progress
        )
        assert text_of(result) == "3 steps"
        assert progress == [1, 2, 3]
        assert (
            text_of(await client.call_tool(upstream.sample, {"prompt": "hello"})) == "sampled: echo of hello"
        )
        assert text_of(await client.call_tool(upstream.elicit, {"question": "?"})) == "answered: forty-two"
        assert text_of(await client.call_tool(upstream.roots, {})) == "file:///work/project"


@pytest.mark.parametrize(("mode", "upstream"), cells())
async def test_resources_and_prompts(gateway: RunningGateway, mode: str, upstream: Upstream) -> None:
    async with gateway.client(mode=mode) as client:
        listed = await client.list_resources()
        assert upstream.resource in {str(r.uri) for r in listed.resources}
        read = await client.read_resource(upstream.resource)
        content = read.contents[0]
        assert isinstance(content, types.TextResourceContents) and content.text
        prompt = await client.get_prompt(upstream.server + "__greet", {upstream.prompt_argument: "Ada"})
        first = prompt.messages[0].content
        assert isinstance(first, types.TextContent) and first.text == upstream.prompt_text


@pytest.mark.parametrize(("mode", "upstream"), cells())
async def test_resource_subscriptions(gateway: RunningGateway, mode: str, upstream: Upstream) -> None:
    tool, arguments = upstream.touch
    if mode == "legacy":
        updates: list[str] = []

        async def on_message(message: Any) -> None:
            if isinstance(message, types.ResourceUpdatedNotification):
                updates.append(str(message.params.uri))

        async with gateway.client(mode=mode, message_handler=on_message) as client:
            await client.subscribe_resource(upstream.resource)
            await client.call_tool(tool, arguments)
            async with asyncio.timeout(10):
                while not updates:
                    await asyncio.sleep(0.05)
            assert updates[0] == upstream.resource
        return
    async with (
        gateway.client(mode=mode) as client,
        client.listen(resource_subscriptions=[upstream.resource], tools_list_changed=True) as subscription,
    ):
        assert list(subscription.honored.resource_subscriptions or []) == [upstream.resource]
        await client.call_tool(tool, arguments)
        async with asyncio.timeout(10):
            event = await anext(aiter(subscription))
        assert upstream.resource in str(event)


async def test_a_modern_client_closing_its_stream_cancels_the_modern_upstream_call(
    gateway: RunningGateway,
) -> None:
    cancel_log: Path = gateway.extra["cancel_log"]
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "new__slow",
            "arguments": {"seconds": 30},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = {
        **gateway.headers(),
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": "new__slow",
    }
    async with httpx2.AsyncClient() as http:
        with pytest.raises(httpx2.TimeoutException):
            await http.post(gateway.url, headers=headers, json=call, timeout=1.5)
    async with asyncio.timeout(10):
        while not (cancel_log.exists() and "cancelled" in cancel_log.read_text()):
            await asyncio.sleep(0.05)
