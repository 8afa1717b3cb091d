"""Results from upstreams stay bounded: size, content blocks, width and depth.

In process for the walker and the middleware's rules; through the real gateway (default
middleware stack) with a fixture server answering in each oversized shape: a well-formed error
naming the limit, and the gateway, the session and other clients keep being served.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from mcp.shared.exceptions import MCPError

from middleware.limits import ResultLimits, measure
from middleware.limits.known_sizes import MAX_BYTES as KNOWN_BYTES
from middleware.limits.known_sizes import KnownSizes
from middleware.protocol import (
    NOTIFICATION,
    RESPONSE,
    TARGET_SERVER,
    Event,
    MCPScope,
    Message,
    Receive,
    Send,
    error_message,
    result_message,
)
from middleware.protocol.measure import measured
from middleware.protocol.testing import call, make_test_scope
from tests.support import BOB_KEY, ROOT, RunningGateway, default_settings, running_gateway, text_of

OVERSIZED_SERVER = ROOT / "tests" / "fixtures" / "oversized_server.py"
MiB = 1024 * 1024
LIMITS = {"max_bytes": 1000, "max_width": 50, "max_depth": 8}


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


# --- the walker -------------------------------------------------------------------------------


def tool_result(text: str, **extra: Any) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": False, **extra}


@pytest.mark.parametrize(
    "value",
    [
        tool_result("hello " * 100),
        tool_result("héllo wörld ✓ " * 50),  # non-ASCII counts its UTF-8 bytes
        tool_result("", structuredContent={"rows": [{"id": i, "name": f"row {i}"} for i in range(50)]}),
    ],
)
def test_the_size_estimate_is_close_to_the_serialised_size(value: Any) -> None:
    actual = len(orjson.dumps(value))
    assert measure(value, max_bytes=actual * 2, max_width=10**6, max_depth=64) is None
    excess = measure(value, max_bytes=actual // 2, max_width=10**6, max_depth=64)
    assert excess is not None and excess.option == "max_bytes"
    # The walk stopped at the limit; the estimate is within 15% of the truth.
    almost = measure(value, max_bytes=int(actual * 0.85), max_width=10**6, max_depth=64)
    assert almost is not None
    assert measure(value, max_bytes=int(actual * 1.15), max_width=10**6, max_depth=64) is None


def summary(value: Any) -> tuple[str, int, int] | None:
    excess = measure(value, **LIMITS)
    return None if excess is None else (excess.option, excess.allowed, excess.found)


def test_each_limit_is_named_with_its_value_and_what_was_found() -> None:
    assert summary({"a": {f"k{i}": i for i in range(51)}}) == ("max_width", 50, 51)
    assert summary([list(range(51))]) == ("max_width", 50, 51)
    assert summary(nested(9)) == ("max_depth", 8, 9)
    big = summary({"text": "x" * 5000})
    assert big is not None and big[:2] == ("max_bytes", 1000) and big[2] > 1000
    assert summary(nested(8)) is None
    assert summary({f"k{i}": i for i in range(50)}) is None


def test_a_huge_wide_object_costs_one_len_not_a_walk() -> None:
    wide = {f"k{i}": i for i in range(200_000)}
    started = time.perf_counter()
    excess = measure({"structuredContent": wide}, max_bytes=16 * MiB, max_width=100_000, max_depth=64)
    assert excess is not None and excess.option == "max_width"
    assert time.perf_counter() - started < 0.01


# --- the middleware, in process ---------------------------------------------------------------


def answering(message: Message) -> Any:
    async def app(scope: MCPScope, receive: Receive, send: Send) -> None:
        scope["state"][TARGET_SERVER] = "files"
        note: Message = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": "x" * 5000}}
        await send({"type": NOTIFICATION, "message": note})
        await send({"type": RESPONSE, "message": {**message, "id": scope["id"]}})

    return app


async def test_an_oversized_result_becomes_an_upstream_error_naming_the_limit() -> None:
    app = ResultLimits(answering(result_message(0, tool_result("x" * 5000))), max_bytes=1000)
    events = await call(app, make_test_scope("tools/call", {"name": "files__read"}, request_id=7))
    note, final = events
    assert note["type"] == NOTIFICATION  # notifications are not a result
    assert final["message"]["id"] == 7
    error = final["message"]["error"]
    assert error["code"] == -32013
    assert error["data"]["fault"] == "upstream"
    assert error["data"]["limit"] == "max_bytes"
    assert error["data"]["allowed"] == 1000
    assert error["data"]["server"] == "files"
    assert "max_bytes" in error["message"] and "ResultLimits" in error["message"]
    assert "'files'" in error["message"]


async def test_too_many_blocks_and_an_oversized_error_are_refused_too() -> None:
    blocks = {"content": [{"type": "text", "text": "b"}] * 11}
    events = await call(
        ResultLimits(answering(result_message(0, blocks)), max_blocks=10), make_test_scope("tools/call")
    )
    assert events[-1]["message"]["error"]["data"]["limit"] == "max_blocks"
    long_error = error_message(0, -32000, "e" * 70_000)
    events = await call(ResultLimits(answering(long_error)), make_test_scope("tools/call"))
    error = events[-1]["message"]["error"]
    assert (error["code"], error["data"]["limit"]) == (-32013, "max_error_bytes")
    assert len(error["message"]) < 1000


async def test_a_result_within_the_limits_passes_as_the_same_object() -> None:
    message = result_message(1, tool_result("fine"))
    seen: list[Event] = []

    async def inner(scope: MCPScope, receive: Receive, send: Send) -> None:
        await send({"type": RESPONSE, "message": message})

    async def record(event: Event) -> None:
        seen.append(event)

    await ResultLimits(inner)(make_test_scope("tools/call"), _nothing, record)
    assert seen[0]["message"] is message  # not copied, not re-serialised


def tool_definitions(count: int, description: str = "Echo the text back.") -> list[dict[str, Any]]:
    schema = {"type": "object", "properties": {"text": {"type": "string"}}}
    return [{"name": f"tool{i}", "description": description, "inputSchema": schema} for i in range(count)]


def smallest_passing_max_bytes(result: dict[str, Any]) -> int:
    low, high = 1, 10**7
    while low < high:
        middle = (low + high) // 2
        if ResultLimits(_unused, max_bytes=middle).excess(result_message(1, result), "tools/list") is None:
            high = middle
        else:
            low = middle + 1
    return low


def test_a_list_page_is_measured_item_by_item_to_the_same_estimate_as_a_whole_walk() -> None:
    result = {"tools": tool_definitions(5), "nextCursor": "abc"}
    whole = measured(result, max_bytes=10**9, max_width=10**6, max_depth=64)
    assert smallest_passing_max_bytes(result) == whole
    actual = len(orjson.dumps(result))
    assert 0.85 * actual < smallest_passing_max_bytes(result) < 1.15 * actual


def test_a_list_over_a_limit_is_refused_however_its_items_were_measured_before() -> None:
    tools = tool_definitions(3)
    limits = ResultLimits(_unused, max_depth=6, max_width=3, max_bytes=2000)
    assert limits.excess(result_message(1, {"tools": tools}), "tools/list") is None  # measured and remembered
    assert limits.excess(result_message(2, {"tools": tools}), "tools/list") is None  # from memory
    # result (1), tools (2), a tool (3), its inputSchema (4), a (5), b (6), c (7)
    deep = {"name": "t", "inputSchema": {"a": {"b": {"c": {}}}}}
    excess = limits.excess(result_message(1, {"tools": [deep]}), "tools/list")
    assert excess is not None and (excess.option, excess.found) == ("max_depth", 7)
    wider = limits.excess(result_message(3, {"tools": [*tools, *tool_definitions(1)]}), "tools/list")
    assert wider is not None and (wider.option, wider.found) == ("max_width", 4)
    longer = tools[:2] + tool_definitions(1, "x" * 3000)
    larger = limits.excess(result_message(4, {"tools": longer}), "tools/list")
    assert larger is not None and larger.option == "max_bytes"
    # Remembered sizes add up: the same remembered items, more of them, pass the byte limit.
    allowed = smallest_passing_max_bytes({"tools": tools})
    many = ResultLimits(_unused, max_bytes=allowed)
    assert many.excess(result_message(5, {"tools": tools}), "tools/list") is None
    excess = many.excess(result_message(6, {"tools": tools * 2}), "tools/list")
    assert excess is not None and excess.option == "max_bytes" and excess.found > allowed


def test_a_remembered_size_belongs_to_that_very_object() -> None:
    known = KnownSizes()
    item = {"name": "a"}
    known.remember(item, 12)
    assert known.size(item) == 12
    assert known.size({"name": "a"}) is None  # equal is not the same: it may be changed later


def test_remembered_sizes_stay_within_their_budget() -> None:
    known = KnownSizes()
    items = [{"n": i} for i in range(3)]
    for item in items:
        known.remember(item, KNOWN_BYTES // 2)
    # The third would pass the budget: memory starts afresh and keeps only what came since.
    assert [known.size(item) for item in items] == [None, None, KNOWN_BYTES // 2]
    huge = {"n": "huge"}
    known.remember(huge, KNOWN_BYTES + 1)
    assert known.size(huge) is None


async def _unused(scope: MCPScope, receive: Receive, send: Send) -> None:
    raise AssertionError("only excess() is called")


async def _nothing() -> Event:
    raise AssertionError("not expected to receive")


@pytest.mark.parametrize("options", [{"max_bytes": 0}, {"max_depth": -1}, {"max_width": "many"}])
def test_limits_that_make_no_sense_are_refused_by_name(options: dict[str, Any]) -> None:
    [name] = options
    with pytest.raises(ValueError, match=name):
        ResultLimits(answering({}), **options)


def test_check_names_a_bad_limit(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('[[middleware]]\nuse = "middleware.limits:ResultLimits"\noptions = { max_bytes = 0 }\n')
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "--settings", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "middleware[0].options" in result.stderr
    assert "max_bytes" in result.stderr


# --- through the real gateway, default middleware stack --------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = default_settings({"big": {"command": "python", "args": [str(OVERSIZED_SERVER)]}})
    with running_gateway(Path(tmp_path_factory.mktemp("limits")), settings) as running:
        yield running


@pytest.mark.parametrize(
    ("shape", "n", "limit"),
    [
        ("text", 16 * MiB + 1000, "max_bytes"),
        ("blocks", 10_001, "max_blocks"),
        ("wide", 100_001, "max_width"),
        ("deep", 80, "max_depth"),
        ("error", 100_000, "max_error_bytes"),
    ],
)
async def test_an_oversized_answer_is_a_clear_error_and_everyone_keeps_being_served(
    gateway: RunningGateway, shape: str, n: int, limit: str
) -> None:
    async with gateway.client(mode="legacy") as client, gateway.client(mode="legacy", key=BOB_KEY) as other:
        refused, meanwhile = await asyncio.gather(
            client.call_tool("big__oversized", {"shape": shape, "n": n}),
            other.call_tool("big__oversized", {"shape": "small", "n": 1}),
            return_exceptions=True,
        )
        assert text_of(meanwhile) == "small 1"  # another client, served alongside
        assert isinstance(refused, MCPError), refused
        assert refused.code == -32013
        assert refused.data["fault"] == "upstream"
        assert refused.data["limit"] == limit
        assert limit in refused.message and "ResultLimits" in refused.message
        assert len(refused.message) < 1000
        # The same session goes on.
        assert text_of(await client.call_tool("big__oversized", {"shape": "small", "n": 2})) == "small 2"


async def test_answers_at_the_default_limits_pass_whole(gateway: RunningGateway) -> None:
    async with gateway.client(mode="legacy") as client:
        result = await client.call_tool("big__oversized", {"shape": "blocks", "n": 10_000})
        assert len(result.content) == 10_000
        deep = await client.call_tool("big__oversized", {"shape": "deep", "n": 60})
        assert deep.structured_content is not None
