"""A background loop that swallows a cancellation (as redis-py may turn one into a connection
error) is still stopped, at once."""

from __future__ import annotations

import asyncio

from gateway.state.stopping import stop


async def test_a_loop_that_swallows_one_cancellation_still_stops() -> None:
    swallowed: list[int] = []

    async def retrying_loop() -> None:
        while True:
            try:
                await asyncio.sleep(0.01)
                await asyncio.Event().wait()  # "a command in flight"
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(1)  # turned into an error the loop retries after

    task = asyncio.create_task(retrying_loop())
    await asyncio.sleep(0.05)
    async with asyncio.timeout(3):
        await stop(task)
    assert task.cancelled() and swallowed == [1]
    await stop(None)  # nothing to stop: nothing happens
