"""A call's channel to its client, in process: a request relayed with a call may be answered
after the call ended (within LATE_ANSWERS), and one never answered gets a timeout error rather
than leaving the server waiting forever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from middleware.protocol import CLIENT_RESPONSE, REQUEST_TIMEOUT, SERVER_REQUEST, Event, Principal, make_scope
from upstream.session import channel as channel_module
from upstream.session.channel import ClientChannel

ROOTS = {"jsonrpc": "2.0", "id": 7, "method": "roots/list"}


def a_channel() -> tuple[ClientChannel, asyncio.Queue[Event], list[Event]]:
    scope = make_scope(
        method="tools/call",
        request_id=1,
        params={},
        principal=Principal("alice"),
        session_id="s",
        protocol_version="2025-11-25",
        client_capabilities={"roots": {}},
        client_info=None,
        server="own",
        http={},
    )
    answers: asyncio.Queue[Event] = asyncio.Queue()
    sent: list[Event] = []

    async def send(event: Event) -> None:
        sent.append(event)

    return ClientChannel(scope, answers.get, send), answers, sent


async def test_an_answer_after_the_call_ended_still_reaches_the_server() -> None:
    channel, answers, sent = a_channel()
    asking = asyncio.create_task(channel.ask(ROOTS))
    await asyncio.sleep(0.01)
    (relayed,) = sent
    assert relayed["type"] == SERVER_REQUEST
    await channel.close()  # the call ends first
    answer: dict[str, Any] = {"jsonrpc": "2.0", "id": relayed["message"]["id"], "result": {"roots": []}}
    answers.put_nowait({"type": CLIENT_RESPONSE, "message": answer})
    assert (await asyncio.wait_for(asking, 5))["result"] == {"roots": []}
    assert await channel.ask(ROOTS) == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": REQUEST_TIMEOUT, "message": "the client's call it would travel with has ended"},
    }


async def test_a_request_never_answered_times_out_after_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel_module, "LATE_ANSWERS", 0.2)
    channel, _, _ = a_channel()
    asking = asyncio.create_task(channel.ask(ROOTS))
    await asyncio.sleep(0.01)
    await channel.close()
    error = (await asyncio.wait_for(asking, 5))["error"]
    assert error["code"] == REQUEST_TIMEOUT and "did not answer within 0.2 s" in error["message"]
