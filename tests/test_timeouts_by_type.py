"""Timeouts per operation type (the seed's timeout manager's vocabulary) and their counters."""

from __future__ import annotations

import asyncio

import pytest

import middleware.timeouts as timeouts_module
from middleware.protocol import MCPScope, Receive, Send, operations, result_message
from middleware.protocol.testing import call, make_test_scope
from middleware.timeouts import OPERATION_TYPES, OperationStats, Timeouts, operation_type


async def sleepy(scope: MCPScope, receive: Receive, send: Send) -> None:
    await asyncio.sleep(scope["params"].get("sleep", 0))
    await send({"type": "mcp.response", "message": result_message(scope["id"], {})})


def test_methods_have_the_seed_s_operation_types() -> None:
    assert operation_type("tools/call") == "tool_execution"
    for method in ("initialize", "tools/list", "prompts/list", "resources/list", "resources/templates/list"):
        assert operation_type(method) == "discovery"
    assert operation_type("resources/read") == "default"
    assert set(OPERATION_TYPES) == {
        "default",
        "guardrail",
        "auth",
        "tool_execution",
        "discovery",
        "cache",
        "connectivity",
    }


async def test_each_type_has_its_deadline_and_its_counts() -> None:
    stats = OperationStats()
    app = Timeouts(sleepy, default=5, tool_execution=0.05, discovery=0.5, stats=stats)
    [timed_out] = await call(app, make_test_scope("tools/call", {"sleep": 5}))
    assert timed_out["message"]["error"]["data"]["timeout"] == 0.05
    [listed] = await call(app, make_test_scope("tools/list", {"sleep": 0.1}))  # within discovery's 0.5 s
    assert listed["message"]["result"] == {}
    [read] = await call(app, make_test_scope("resources/read", {"sleep": 0}))
    assert "result" in read["message"]
    snapshot = stats.snapshot()
    assert list(snapshot) == ["default", "tool_execution", "discovery"]  # what Timeouts counts
    assert snapshot["tool_execution"]["operations"] == 1
    assert snapshot["tool_execution"]["timeouts"] == 1
    assert snapshot["tool_execution"]["timeout"] == 0.05
    assert snapshot["discovery"] == {
        "operations": 1,
        "timeouts": 0,
        "seconds": pytest.approx(0.1, abs=0.09),
        "timeout": 0.5,
    }
    assert snapshot["default"]["operations"] == 1
    assert snapshot["default"]["timeout"] == 5
    assert "guardrail" not in snapshot  # nobody here counts it: not reported as zeros


def test_a_type_is_reported_once_something_counts_it() -> None:
    stats = OperationStats()
    assert stats.snapshot() == {}
    stats.wire("cache")
    assert stats.snapshot() == {"cache": {"operations": 0, "timeouts": 0, "seconds": 0.0, "timeout": None}}
    stats.configure("connectivity", 30)
    stats.record("auth", 0.5)
    assert list(stats.snapshot()) == ["auth", "cache", "connectivity"]  # in OPERATION_TYPES order
    stats.reset()
    assert stats.snapshot()["auth"]["operations"] == 0  # zeroed, still reported
    with pytest.raises(ValueError, match="unknown operation type 'disk'"):
        stats.record("disk", 0.1)


def test_the_counters_are_the_contract_s_so_every_layer_counts_in_one_object() -> None:
    assert timeouts_module.OPERATIONS is operations.OPERATIONS
    assert timeouts_module.OperationStats is operations.OperationStats
    assert set(OPERATION_TYPES) == set(operations.OPERATION_TYPES)


async def test_a_method_s_own_timeout_beats_its_type() -> None:
    stats = OperationStats()
    app = Timeouts(sleepy, tool_execution=5, methods={"tools/call": 0.05}, stats=stats)
    [timed_out] = await call(app, make_test_scope("tools/call", {"sleep": 5}))
    assert timed_out["message"]["error"]["data"]["timeout"] == 0.05


async def test_track_counts_what_others_time() -> None:
    stats = OperationStats()
    async with stats.track("auth"):
        await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        async with stats.track("connectivity"), asyncio.timeout(0.01):
            await asyncio.sleep(1)
    snapshot = stats.snapshot()
    assert (snapshot["auth"]["operations"], snapshot["auth"]["timeouts"]) == (1, 0)
    assert (snapshot["connectivity"]["operations"], snapshot["connectivity"]["timeouts"]) == (1, 1)


def test_bad_type_timeouts_are_refused() -> None:
    with pytest.raises(ValueError, match="tool_execution"):
        Timeouts(sleepy, tool_execution=0)
