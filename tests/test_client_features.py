"""Server-to-client requests reach the client that caused them, only if it declared the
capability, and its answers go back to the upstream that asked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import MCPError, types

from tests.support import ROOT, RunningGateway, default_settings, running_gateway, text_of

ASKING_SERVER = {"command": "python", "args": [str(ROOT / "tests" / "fixtures" / "asking_server.py")]}


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
