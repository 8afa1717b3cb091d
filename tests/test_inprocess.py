"""The MCP tier in process: a middleware and the contract's helpers, no HTTP, no subprocess."""

from __future__ import annotations

import asyncio

from middleware.protocol import (
    RESPONSE,
    Event,
    MCPScope,
    Receive,
    Send,
    blame_relayed,
    child_scope,
    result_message,
)
from middleware.protocol.testing import call, make_test_scope
from middleware.timeouts import Timeouts


async def slow_echo(scope: MCPScope, receive: Receive, send: Send) -> None:
    await asyncio.sleep(scope["params"].get("sleep", 0))
    await send({"type": RESPONSE, "message": result_message(scope["id"], {"echo": scope["params"]})})


async def test_a_timed_out_call_is_an_upstream_fault_with_its_limit() -> None:
    events = await call(Timeouts(slow_echo, default=0.05), make_test_scope("tools/call", {"sleep": 5}))
    [final] = events
    error = final["message"]["error"]
    assert error["code"] == -32001
    assert error["data"] == {"timeout": 0.05, "fault": "upstream"}


async def test_a_call_within_its_limit_passes_untouched() -> None:
    events: list[Event] = await call(Timeouts(slow_echo, default=5), make_test_scope("tools/call", {"a": 1}))
    assert [e["message"] for e in events] == [result_message(1, {"echo": {"a": 1}})]


def test_a_child_scope_shares_the_call_state_unless_asked_not_to() -> None:
    parent = make_test_scope("tools/call", {"name": "x"})
    child = child_scope(parent, params={"name": "y"})
    child["state"]["seen"] = True
    assert parent["state"] == {"seen": True} and parent["params"] == {"name": "x"}
    separate = child_scope(parent, method="resources/subscribe", request_id="s-1", fresh_state=True)
    assert separate["state"] == {} and separate["id"] == "s-1" and separate["session_id"] == "test-session"


def test_both_fronts_scopes_carry_client_info() -> None:
    assert make_test_scope("ping")["client_info"] == {"name": "in-process", "version": "0"}


def test_a_relayed_upstream_error_is_blamed_by_its_code_and_keeps_its_data() -> None:
    def error(code: int, data: object = None) -> dict[str, object]:
        body: dict[str, object] = {"code": code, "message": "m"}
        if data is not None:
            body["data"] = data
        return {"jsonrpc": "2.0", "id": 1, "error": body}

    assert blame_relayed(error(-32602))["error"]["data"] == {"fault": "client"}
    assert blame_relayed(error(-32000, {"retry": 2}))["error"]["data"] == {"retry": 2, "fault": "upstream"}
    assert blame_relayed(error(-32000, {"fault": "policy"}))["error"]["data"] == {"fault": "policy"}
    assert blame_relayed(error(-32000, "text"))["error"]["data"] == "text"  # not ours to reshape
