"""Server-to-client requests reach the client that caused them, only if it declared the
capability, and its answers go back to the upstream that asked."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import MCPError, types

from tests.support import ROOT, RunningGateway, default_settings, running_gateway, text_of

ASKING_SERVER = {
    "command": "python",
    "args": [str(ROOT / "tests" / "fixtures" / "asking_server.py")],
    # It asks the client mid-call, the legacy way (a dual-era SDK server cannot in 2026-07-28).
    "era": "legacy",
}


@pytest.fixture(scope="module")
def asking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = default_settings({"asking": ASKING_SERVER})
    with running_gateway(Path(tmp_path_factory.mktemp("asking")), settings) as running:
        yield running


async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    first = params.messages[0].content
    prompt = first.text if isinstance(first, types.TextContent) else "?"
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=f"echo of {prompt}"), model="test-model"
    )


async def elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    if isinstance(params, types.ElicitRequestURLParams):
        return types.ElicitResult(action="decline")
    return types.ElicitResult(action="accept", content={"answer": "forty-two"})


async def roots(context: Any) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///work/project")])


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_sampling_elicitation_and_roots_reach_the_client(asking: RunningGateway, mode: str) -> None:
    async with asking.client(
        mode=mode, sampling_callback=sampling, elicitation_callback=elicitation, list_roots_callback=roots
    ) as client:
        assert (
            text_of(await client.call_tool("asking__sample", {"prompt": "hello"})) == "sampled: echo of hello"
        )
        assert text_of(await client.call_tool("asking__ask", {"question": "?"})) == "answered: forty-two"
        assert text_of(await client.call_tool("asking__roots", {})) == "file:///work/project"
        url = await client.call_tool("asking__ask_url", {"url": "https://auth.example.com/x"})
        assert text_of(url) == "url elicitation decline"


async def test_a_client_without_the_capability_gets_a_clear_error(asking: RunningGateway) -> None:
    async with asking.client(mode="legacy") as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("asking__sample", {"prompt": "hello"})
        assert "did not declare the 'sampling' capability" in refused.value.error.message
        # The upstream session survives: the next call that needs nothing works.
        assert text_of(await client.call_tool("asking__chatty", {})) == "logged"


async def test_log_messages_reach_each_session_at_its_own_level(asking: RunningGateway) -> None:
    debug_seen: list[str] = []
    warning_seen: list[str] = []

    def collector(into: list[str]) -> Any:
        async def on_log(params: types.LoggingMessageNotificationParams) -> None:
            into.append(f"{params.level}:{params.data}")

        return on_log

    async with (
        asking.client(mode="legacy", logging_callback=collector(debug_seen)) as verbose,
        asking.client(mode="legacy", logging_callback=collector(warning_seen)) as quiet,
    ):
        await verbose.set_logging_level("debug")
        await quiet.set_logging_level("warning")
        assert text_of(await verbose.call_tool("asking__chatty", {})) == "logged"
        await wait_for(lambda: len(debug_seen) >= 2 and len(warning_seen) >= 1)
    assert "debug:a debug line" in debug_seen
    assert "warning:a warning line" in debug_seen
    assert warning_seen == ["warning:a warning line"]


async def test_resource_updates_reach_only_subscribed_sessions(asking: RunningGateway) -> None:
    updates: dict[str, list[str]] = {"subscriber": [], "bystander": []}

    def handler(label: str) -> Any:
        async def on_message(message: Any) -> None:
            if isinstance(message, types.ResourceUpdatedNotification):
                updates[label].append(str(message.params.uri))

        return on_message

    async with (
        asking.client(mode="legacy", message_handler=handler("subscriber")) as subscriber,
        asking.client(mode="legacy", message_handler=handler("bystander")) as bystander,
    ):
        await subscriber.subscribe_resource("asking://counter")
        await subscriber.subscribe_resource("asking://counter")  # idempotent for the upstream
        assert text_of(await bystander.call_tool("asking__subscribed", {})) == "asking://counter"
        assert text_of(await bystander.call_tool("asking__bump", {})) == "notified 1"
        await wait_for(lambda: bool(updates["subscriber"]))
        assert updates["subscriber"] == ["asking://counter"]
        assert updates["bystander"] == []
        await subscriber.unsubscribe_resource("asking://counter")
        assert text_of(await bystander.call_tool("asking__subscribed", {})) == ""
        with pytest.raises(MCPError) as unknown:
            await subscriber.subscribe_resource("asking://nothing-here")
        assert unknown.value.error.code == -32002


async def test_ending_a_session_releases_its_subscriptions(asking: RunningGateway) -> None:
    async with asking.client(mode="legacy") as subscriber:
        await subscriber.subscribe_resource("asking://counter")
    async with asking.client(mode="legacy") as observer:
        await wait_for_async(
            lambda: observer.call_tool("asking__subscribed", {}), lambda result: text_of(result) == ""
        )


async def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def wait_for_async(probe: Any, accept: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not accept(await probe()):
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
