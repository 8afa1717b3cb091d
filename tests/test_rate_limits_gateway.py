"""Rate limits end to end, against a real gateway process: a burst beyond a limit is refused
with a JSON-RPC error naming it, in both protocol eras; limits are per principal; a
concurrency cap holds while a slow call runs and frees when it ends or its client leaves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from tests.support import (
    ACCEPT_BOTH,
    BOB_KEY,
    RunningGateway,
    default_settings,
    fixture_server,
    initialize_raw,
    running_gateway,
)
from tests.test_modern_front import mirrored, request

RATE_LIMITED = -32029
BURST = 3
RULES: list[dict[str, Any]] = [
    # alice's echo calls: three at once, then one a minute (bob is not limited by it).
    {"name": "alice-echo", "principals": ["alice"], "tools": ["echo"], "rate": "1/min", "burst": BURST},
    # one slow call at a time, per principal.
    {"name": "one-slow", "tools": ["slow"], "max_concurrent": 1},
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp = Path(tmp_path_factory.mktemp("rate-limits"))
    settings = default_settings({"alpha": fixture_server("alpha")}, rate_limits=RULES)
    with running_gateway(tmp, settings) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(20.0)) as client:
        yield client


class Legacy:
    """A 2025-11-25 session over plain POSTs."""

    def __init__(self, http: httpx2.AsyncClient, gateway: RunningGateway, key: str | None = None) -> None:
        self.http, self.gateway, self.key = http, gateway, key
        self.session = ""
        self.next_id = 10

    async def open(self) -> Legacy:
        self.session = await initialize_raw(self.http, self.gateway.url, self.gateway.headers(self.key))
        return self

    async def call(self, tool: str, **arguments: Any) -> httpx2.Response:
        self.next_id += 1
        message = {
            "jsonrpc": "2.0",
            "id": self.next_id,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        headers = {
            **self.gateway.headers(self.key),
            "content-type": "application/json",
            "mcp-session-id": self.session,
            "mcp-protocol-version": "2025-11-25",
        }
        return await self.http.post(self.gateway.url, headers=headers, content=orjson.dumps(message))


async def modern_call(
    http: httpx2.AsyncClient, gateway: RunningGateway, tool: str, key: str | None = None, **arguments: Any
) -> httpx2.Response:
    message = request("tools/call", {"name": tool, "arguments": arguments})
    headers = {
        "authorization": f"Bearer {key or gateway.key}",
        "accept": ACCEPT_BOTH,
        "content-type": "application/json",
        **mirrored(message),
    }
    return await http.post(gateway.url, headers=headers, content=orjson.dumps(message))


def final(response: httpx2.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        lines = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        answer: dict[str, Any] = orjson.loads(lines[-1])
        return answer
    body: dict[str, Any] = response.json()
    return body


def refused_by(response: httpx2.Response) -> str | None:
    """The limit named by a refusal, or None when the call went through."""
    error = final(response).get("error")
    if error is None or error["code"] != RATE_LIMITED:
        return None
    assert error["data"]["fault"] == "policy"
    assert isinstance(error["data"]["retryAfter"], int) and error["data"]["retryAfter"] >= 1
    assert repr(error["data"]["limit"]) in error["message"]
    limit: str = error["data"]["limit"]
    return limit


async def first_refusal(call: Any) -> tuple[int, httpx2.Response]:
    """Call until refused (the bucket may be partly spent by earlier tests): how many calls."""
    for count in range(1, BURST + 2):
        response = await call()
        if refused_by(response) is not None:
            return count, response
    raise AssertionError(f"{BURST + 1} calls in a burst and none refused")


async def test_a_legacy_burst_beyond_the_limit_is_refused_naming_it(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    alice = await Legacy(http, gateway).open()
    _, response = await first_refusal(lambda: alice.call("alpha__echo", text="hi"))
    assert refused_by(response) == "alice-echo"


async def test_a_modern_burst_beyond_the_limit_is_refused_naming_it(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    _, response = await first_refusal(lambda: modern_call(http, gateway, "alpha__echo", text="hi"))
    assert refused_by(response) == "alice-echo"


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_a_refusal_that_is_the_whole_answer_is_http_429_with_retry_after(
    era: str, http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    if era == "legacy":
        alice = await Legacy(http, gateway).open()
        _, response = await first_refusal(lambda: alice.call("alpha__echo", text="hi"))
    else:
        _, response = await first_refusal(lambda: modern_call(http, gateway, "alpha__echo", text="hi"))
    assert response.status_code == 429
    seconds = int(response.headers["retry-after"])
    assert seconds == final(response)["error"]["data"]["retryAfter"] and seconds >= 1


async def test_limits_are_per_principal(http: httpx2.AsyncClient, gateway: RunningGateway) -> None:
    bob = await Legacy(http, gateway, BOB_KEY).open()
    for _ in range(BURST * 3):
        assert refused_by(await bob.call("alpha__echo", text="hi")) is None
        assert refused_by(await modern_call(http, gateway, "alpha__echo", key=BOB_KEY, text="hi")) is None
    count, _ = await first_refusal(lambda: modern_call(http, gateway, "alpha__echo", text="hi"))
    assert count == 1  # alice spent hers in the tests above (or does now)
    alice = await Legacy(http, gateway).open()
    assert refused_by(await alice.call("alpha__add", a=1, b=2)) is None  # another tool: not limited


async def test_a_concurrency_cap_holds_while_a_slow_call_runs(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    alice = await Legacy(http, gateway).open()
    running = asyncio.create_task(alice.call("alpha__slow", seconds=1.5))
    await asyncio.sleep(0.5)
    assert refused_by(await modern_call(http, gateway, "alpha__slow", seconds=0)) == "one-slow"
    assert refused_by(await modern_call(http, gateway, "alpha__slow", key=BOB_KEY, seconds=0)) is None
    assert final(await running)["result"]["content"][0]["text"] == "done"
    assert refused_by(await alice.call("alpha__slow", seconds=0)) is None  # its slot came back


async def test_a_slot_comes_back_when_the_client_leaves(
    http: httpx2.AsyncClient, gateway: RunningGateway
) -> None:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(60.0)) as leaving:
        running = asyncio.create_task(modern_call(leaving, gateway, "alpha__slow", seconds=30))
        await asyncio.sleep(0.5)
        assert refused_by(await modern_call(http, gateway, "alpha__slow", seconds=0)) == "one-slow"
        running.cancel()  # the client goes away: its connection closes
        with contextlib.suppress(asyncio.CancelledError):
            await running
    for _ in range(50):
        if refused_by(await modern_call(http, gateway, "alpha__slow", seconds=0)) is None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the slot of a call whose client left never came back")
