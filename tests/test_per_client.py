"""session_mode = "per_client": one upstream session per gateway session, for stateful servers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import types

from tests.support import BOB_KEY, ROOT, RunningGateway, default_settings, running_gateway, text_of

ASKING = str(ROOT / "tests" / "fixtures" / "asking_server.py")


@pytest.fixture(scope="module")
def per_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = default_settings(
        {
            # It asks the client mid-call and outside calls, the legacy way: initialize era.
            "own": {"command": "python", "args": [ASKING], "session_mode": "per_client", "era": "legacy"},
            "shared": {"command": "python", "args": [ASKING], "era": "legacy"},
        }
    )
    with running_gateway(Path(tmp_path_factory.mktemp("per-client")), settings) as running:
        yield running


async def test_each_client_gets_its_own_upstream_session(per_client: RunningGateway) -> None:
    async with per_client.client(mode="legacy") as first, per_client.client(mode="legacy") as second:
        await first.call_tool("own__remember", {"value": "first's"})
        await second.call_tool("own__remember", {"value": "second's"})
        assert text_of(await first.call_tool("own__recall", {})) == "first's"
        assert text_of(await second.call_tool("own__recall", {})) == "second's"
        # The shared server really is shared: the later write wins for both.
        await first.call_tool("shared__remember", {"value": "first's"})
        await second.call_tool("shared__remember", {"value": "second's"})
        assert text_of(await first.call_tool("shared__recall", {})) == "second's"


async def test_2026_07_28_clients_get_one_upstream_session_per_principal(per_client: RunningGateway) -> None:
    """A 2026-07-28 client has no session: a per-client server keeps one per principal."""
    async with (
        per_client.client(mode="2026-07-28") as alice,
        per_client.client(mode="2026-07-28") as alice_again,
        per_client.client(mode="2026-07-28", key=BOB_KEY) as bob,
    ):
        await alice.call_tool("own__remember", {"value": "alice's"})
        await bob.call_tool("own__remember", {"value": "bob's"})
        assert text_of(await alice_again.call_tool("own__recall", {})) == "alice's"
        assert text_of(await bob.call_tool("own__recall", {})) == "bob's"


async def test_the_upstream_session_ends_with_the_gateway_session(per_client: RunningGateway) -> None:
    async with per_client.client(mode="legacy") as client:
        await client.call_tool("own__remember", {"value": "x"})
        log_before = per_client.log().count("opened a session for client")
    assert log_before >= 1
    # A new gateway session gets a fresh upstream process, with nothing remembered.
    async with per_client.client(mode="legacy") as client:
        assert text_of(await client.call_tool("own__recall", {})) == ""


async def test_requests_outside_a_call_reach_that_client(per_client: RunningGateway) -> None:
    async def roots_of(uri: str) -> Any:
        async def list_roots(context: Any) -> types.ListRootsResult:
            return types.ListRootsResult(roots=[types.Root(uri=uri)])

        return list_roots

    async with (
        per_client.client(mode="legacy", list_roots_callback=await roots_of("file:///first")) as first,
        per_client.client(mode="legacy", list_roots_callback=await roots_of("file:///second")) as second,
    ):
        assert text_of(await first.call_tool("own__roots_later", {})) == "will ask"
        assert text_of(await second.call_tool("own__roots_later", {})) == "will ask"
        for client, expected in ((first, "file:///first"), (second, "file:///second")):
            for _ in range(100):
                seen = text_of(await client.call_tool("own__roots_seen", {}))
                if seen:
                    break
                await asyncio.sleep(0.05)
            assert seen == expected


async def test_a_late_answer_to_a_request_sent_with_another_call_still_arrives(
    per_client: RunningGateway,
) -> None:
    """A stdio server's request names no call: asked while one call is in flight, it goes out
    on that call's stream, and that call may end before the client answers. The answer must
    still reach the server (it was dropped, and the server waited forever)."""

    async def slow_roots(context: Any) -> types.ListRootsResult:
        await asyncio.sleep(0.8)  # answers after the call it came with has ended
        return types.ListRootsResult(roots=[types.Root(uri="file:///late")])

    async with per_client.client(mode="legacy", list_roots_callback=slow_roots) as client:
        assert text_of(await client.call_tool("own__roots_later", {})) == "will ask"  # in 0.2 s
        assert text_of(await client.call_tool("own__progress", {"steps": 40})) == "40 steps"  # ~0.5 s
        for _ in range(100):
            seen = text_of(await client.call_tool("own__roots_seen", {}))
            if seen:
                break
            await asyncio.sleep(0.05)
        assert seen == "file:///late"
