"""Clients see every configured server as one, with names namespaced per server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
import pytest
from mcp import MCPError
from mcp.types import PromptReference, ResourceTemplateReference, TextContent, TextResourceContents

from tests.support import (
    RunningGateway,
    default_settings,
    fixture_server,
    initialize_raw,
    running_gateway,
    text_of,
)

MODES = ["legacy", "auto"]
FIXTURE_TOOLS = ("echo", "add", "whoami", "slow", "progress", "crash", "fail", "pid", "big")


@pytest.mark.parametrize("mode", MODES)
async def test_tools_of_both_servers_are_namespaced(gateway: RunningGateway, mode: str) -> None:
    async with gateway.client(mode=mode) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert "alpha__echo" in names
        assert "beta__echo" in names
        assert "echo" not in names
        assert len(names) == len(set(names))
        assert text_of(await client.call_tool("alpha__echo", {"text": "hi"})) == "alpha:hi"
        assert text_of(await client.call_tool("beta__echo", {"text": "hi"})) == "beta:hi"


@pytest.mark.parametrize("mode", MODES)
async def test_prompts_resources_and_templates_route_to_their_owner(
    gateway: RunningGateway, mode: str
) -> None:
    async with gateway.client(mode=mode) as client:
        prompts = [prompt.name for prompt in (await client.list_prompts()).prompts]
        assert prompts == ["alpha__greet"]  # beta runs --tools-only
        prompt = await client.get_prompt("alpha__greet", {"name": "Ann"})
        content = prompt.messages[0].content
        assert isinstance(content, TextContent)
        assert content.text == "Hello Ann from alpha"

        uris = [str(resource.uri) for resource in (await client.list_resources()).resources]
        assert uris == ["fixture://alpha/info"]
        read = await client.read_resource("fixture://alpha/info")
        assert isinstance(read.contents[0], TextResourceContents)
        assert read.contents[0].text == "info of alpha"

        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["fixture://alpha/items/{item}"]
        item = await client.read_resource("fixture://alpha/items/42")
        assert isinstance(item.contents[0], TextResourceContents)
        assert item.contents[0].text == "item 42 of alpha"


async def test_completion_is_routed_with_names_translated(gateway: RunningGateway) -> None:
    async with gateway.client(mode="legacy") as client:
        prompt_completion = await client.complete(
            PromptReference(type="ref/prompt", name="alpha__greet"), {"name": "name", "value": "al"}
        )
        assert prompt_completion.completion.values == ["alice", "albert"]
        template_completion = await client.complete(
            ResourceTemplateReference(type="ref/resource", uri="fixture://alpha/items/{item}"),
            {"name": "item", "value": "t"},
        )
        assert template_completion.completion.values == ["two", "three"]


async def test_unknown_names_are_the_clients_error(gateway: RunningGateway) -> None:
    async with gateway.client(mode="legacy") as client:
        with pytest.raises(MCPError) as unknown_tool:
            await client.call_tool("gamma__echo", {"text": "x"})
        assert unknown_tool.value.error.code == -32602
        assert "tools/list" in unknown_tool.value.error.message
        with pytest.raises(MCPError) as unknown_resource:
            await client.read_resource("fixture://nowhere/x")
        assert unknown_resource.value.error.code == -32002
        with pytest.raises(MCPError) as unknown_prompt:
            await client.get_prompt("beta__greet", {"name": "x"})
        assert unknown_prompt.value.error.code == -32602


async def test_tool_failures_stay_tool_results(gateway: RunningGateway) -> None:
    async with gateway.client(mode="legacy") as client:
        result = await client.call_tool("alpha__fail", {})
        assert result.is_error is True


async def test_sidecar_endpoint_exposes_one_server_unprefixed(gateway: RunningGateway) -> None:
    async with gateway.client(url=gateway.server_url("beta"), mode="legacy") as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert "echo" in names
        assert all("__" not in name for name in names)
        assert text_of(await client.call_tool("echo", {"text": "side"})) == "beta:side"
        with pytest.raises(MCPError):
            await client.call_tool("alpha__echo", {"text": "x"})


async def test_invalid_cursor_is_invalid_params(gateway: RunningGateway) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        headers = gateway.headers()
        session = await initialize_raw(http, gateway.url, headers)
        response = await http.post(
            gateway.url,
            headers={**headers, "content-type": "application/json", "mcp-session-id": session},
            json={"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"cursor": "bogus"}},
        )
        assert response.status_code == 200
        assert response.json()["error"]["code"] == -32602


async def test_same_progress_token_from_two_clients_never_crosses(gateway: RunningGateway) -> None:
    """Both clients use token 1 on the one shared upstream session; each sees only its own."""
    seen: dict[str, list[float]] = {"a": [], "b": []}

    async def run(label: str, steps: int) -> str:
        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen[label].append(total or 0)

        async with gateway.client(mode="legacy") as client:
            result = await client.call_tool(
                "alpha__progress", {"steps": steps, "delay": 0.05}, progress_callback=on_progress
            )
            return text_of(result)

    results = await asyncio.gather(run("a", 3), run("b", 5))
    assert results == ["3 steps", "5 steps"]
    assert seen["a"] == [3.0] * 3
    assert seen["b"] == [5.0] * 5


async def test_merged_lists_are_paginated_with_gateway_cursors(tmp_path: Path) -> None:
    settings = default_settings(
        {"alpha": fixture_server("alpha"), "beta": fixture_server("beta", "--tools-only")},
        routing={"page_size": 4},
    )
    with running_gateway(tmp_path, settings) as small_pages:
        async with small_pages.client(mode="legacy", cache=None) as client:
            names: list[str] = []
            cursor: str | None = None
            pages = 0
            while True:
                page = await client.list_tools(cursor=cursor)
                assert len(page.tools) <= 4
                names += [tool.name for tool in page.tools]
                pages += 1
                cursor = page.next_cursor
                if cursor is None:
                    break
            expected = {f"{server}__{tool}" for server in ("alpha", "beta") for tool in FIXTURE_TOOLS}
            assert set(names) == expected
            assert len(names) == len(expected)
            assert pages == -(-len(expected) // 4)
            assert all(name.startswith("alpha__") for name in names[: len(FIXTURE_TOOLS)])

            first = await client.list_tools()
            assert first.next_cursor is not None
            with pytest.raises(MCPError) as foreign:
                await client.list_prompts(cursor=first.next_cursor)
            assert foreign.value.error.code == -32602
