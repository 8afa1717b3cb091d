"""Progress that floods: coalesced per call, and never holding a call open for long.

In process (middleware.protocol.testing.call, inner apps that flood) for the rules, and once
through the real gateway with the fixture's ``progress`` tool in a tight loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from middleware.limits import ProgressThrottle
from middleware.protocol import (
    NOTIFICATION,
    RESPONSE,
    Event,
    MCPScope,
    Message,
    Receive,
    Send,
    result_message,
)
from middleware.protocol.testing import call, make_test_scope
from middleware.timeouts import Timeouts
from tests.support import RunningGateway, default_settings, fixture_server, running_gateway, text_of


def progress(value: float) -> Event:
    message: Message = {
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {"progressToken": "t", "progress": value},
    }
    return {"type": NOTIFICATION, "message": message}


def log_message(text: str) -> Event:
    message: Message = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": text}}
    return {"type": NOTIFICATION, "message": message}


def done(scope: MCPScope) -> Event:
    return {"type": RESPONSE, "message": result_message(scope["id"], {"content": []})}


def values(events: list[Event]) -> list[Any]:
    """Each event as the progress value it carries, the log text, or "response"."""
    shown: list[Any] = []
    for event in events:
        message = event["message"]
        if event["type"] == RESPONSE:
            shown.append("response")
        elif message["method"] == "notifications/progress":
            shown.append(message["params"]["progress"])
        else:
            shown.append(message["params"]["data"])
    return shown


async def flood(scope: MCPScope, receive: Receive, send: Send) -> None:
    """Report progress 1..N as fast as the loop allows, then answer."""
    for value in range(1, scope["params"]["steps"] + 1):
        await send(progress(value))
        await asyncio.sleep(0)
    await send(done(scope))


async def test_a_flood_is_coalesced_to_the_rate_and_ends_with_the_latest_value() -> None:
    started = time.monotonic()
    events = await call(
        ProgressThrottle(flood, per_second=20, burst=5), make_test_scope("tools/call", {"steps": 2000})
    )
    elapsed = time.monotonic() - started
    shown = values(events)
    assert shown[-1] == "response"
    relayed = shown[:-1]
    assert relayed[:5] == [1, 2, 3, 4, 5]  # the burst passes whole
    assert relayed[-1] == 2000  # the latest value always arrives, before the response
    assert relayed == sorted(relayed)  # never reordered
    assert len(relayed) <= 5 + 20 * elapsed + 2, (len(relayed), elapsed)


async def test_the_held_value_arrives_after_a_quiet_gap() -> None:
    seen: list[Any] = []
    gap_over = asyncio.Event()

    async def burst_then_pause(scope: MCPScope, receive: Receive, send: Send) -> None:
        for value in (1, 2, 3):
            await send(progress(value))
        async with asyncio.timeout(5):
            while 3 not in seen:  # the held value comes without anything else being sent
                await asyncio.sleep(0.01)
        gap_over.set()
        await send(done(scope))

    async def recording(event: Event) -> None:
        seen.extend(values([event]))

    app = ProgressThrottle(burst_then_pause, per_second=10, burst=1)
    await app(make_test_scope("tools/call"), _never, recording)
    assert gap_over.is_set()
    assert seen == [1, 3, "response"]  # 2 was superseded while held


async def test_other_messages_are_not_throttled_and_keep_their_order() -> None:
    async def mixed(scope: MCPScope, receive: Receive, send: Send) -> None:
        await send(progress(1))
        await send(progress(2))  # held
        await send(log_message("log-a"))  # the held 2 goes first
        await send(log_message("log-b"))
        await send(progress(3))  # held again
        await send(done(scope))

    events = await call(ProgressThrottle(mixed, per_second=1, burst=1), make_test_scope("tools/call"))
    assert values(events) == [1, 2, "log-a", "log-b", 3, "response"]


async def test_a_short_task_keeps_every_step() -> None:
    events = await call(ProgressThrottle(flood), make_test_scope("tools/call", {"steps": 3}))
    assert values(events) == [1, 2, 3, "response"]


async def _never() -> Event:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


# --- the deadline progress may extend -------------------------------------------------------


async def endless_progress(scope: MCPScope, receive: Receive, send: Send) -> None:
    """An upstream that reports progress forever and never answers."""
    value = 0
    while True:
        value += 1
        await send(progress(value))
        await asyncio.sleep(0.02)


async def test_progress_extends_a_deadline_only_up_to_a_multiple_of_it() -> None:
    started = time.monotonic()
    app = Timeouts(endless_progress, default=0.2, progress_extends_up_to=3)
    events = await call(app, make_test_scope("tools/call"), patience=5)
    elapsed = time.monotonic() - started
    error = events[-1]["message"]["error"]
    assert error["code"] == -32001
    assert error["data"]["fault"] == "upstream"
    assert "progress_extends_up_to" in error["message"]
    assert 0.5 <= elapsed < 3, elapsed  # extended past 0.2 s, cut at about 0.6 s


async def test_by_default_progress_cannot_hold_a_call_for_the_hour_ceiling() -> None:
    app = Timeouts(endless_progress, default=0.1)
    events = await call(app, make_test_scope("tools/call"), patience=5)
    assert events[-1]["message"]["error"]["code"] == -32001


@pytest.mark.parametrize(
    ("options", "named"),
    [({"progress_extends_up_to": 0.5}, "progress_extends_up_to"), ({"default": 0}, "default")],
)
def test_timeouts_refuse_options_that_make_no_sense(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Timeouts(endless_progress, **options)


def test_the_throttle_refuses_a_rate_that_makes_no_sense() -> None:
    with pytest.raises(ValueError, match="per_second"):
        ProgressThrottle(flood, per_second=0)


# --- through the real gateway ---------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    settings = default_settings({"alpha": fixture_server("alpha")})  # the default middleware stack
    with running_gateway(Path(tmp_path_factory.mktemp("progress")), settings) as running:
        yield running


async def test_a_progress_flood_reaches_the_client_bounded(gateway: RunningGateway) -> None:
    steps = 3000
    seen: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        seen.append(value)

    async with gateway.client(mode="legacy") as client:
        started = time.monotonic()
        result = await client.call_tool(
            "alpha__progress", {"steps": steps, "delay": 0}, progress_callback=on_progress
        )
        elapsed = time.monotonic() - started
    assert text_of(result) == f"{steps} steps"
    assert seen[-1] == steps  # the latest value arrived, before the result
    assert seen == sorted(seen)
    assert len(seen) <= 10 + 20 * elapsed + 2, (len(seen), elapsed)  # default burst 10, 20/s
    assert len(seen) < steps / 10
