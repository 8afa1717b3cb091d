"""The client's side of a long HTTP exchange: noticing that it left, and feeding it a queue of
messages with keep-alives in the quiet spells (the GET stream, ``subscriptions/listen``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from gateway.front.reply import KEEPALIVE, body_chunk
from gateway.front.sessions import StreamItem
from middleware.protocol import Event
from middleware.protocol.http import ASGIReceive, ASGISend


async def wait_disconnect(receive: ASGIReceive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def watch_disconnect(receive: ASGIReceive) -> asyncio.Task[None]:
    """A task that ends when the client leaves (cancel it when the exchange ends)."""
    return asyncio.create_task(wait_disconnect(receive))


async def queued(
    queue: asyncio.Queue[StreamItem], disconnected: asyncio.Future[None], send: ASGISend, keepalive: float
) -> AsyncIterator[dict[str, Any]]:
    """The queue's messages as they come, until the client leaves (``disconnected`` is done) or
    the gateway ends the stream (``None``); a keep-alive comment after each quiet spell."""
    while not disconnected.done():
        getter = asyncio.ensure_future(queue.get())
        waiting: set[asyncio.Future[Any]] = {getter, disconnected}
        done, _ = await asyncio.wait(waiting, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED)
        if getter not in done:
            getter.cancel()
            if not disconnected.done():
                await send(body_chunk(KEEPALIVE))
            continue
        item = getter.result()
        if item is None:
            return
        yield item


async def no_input() -> Event:
    """The ``receive`` of a call that relays nothing to the client: waits forever."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def ignore(event: Event) -> None:
    """The ``send`` of a call whose events nobody reads (a client notification)."""
