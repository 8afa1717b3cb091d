"""The server's own stream of a streamable-HTTP session: one GET held open, reconnected with
backoff and ``Last-Event-ID``, relaying what the server sends unprompted.

A 405 means the server offers none. A 404 on a session whose stream worked means the server
forgot the session: reported as :class:`~upstream.errors.SessionExpired` (the session layer
renews it, and the ``notifications/initialized`` of the new session starts a new stream).
"""

from __future__ import annotations

import asyncio
import logging
from enum import Enum
from typing import TYPE_CHECKING, Final

import aiohttp

from upstream.errors import ProtocolViolation
from upstream.transports.http_support import (
    EVENT_STREAM,
    NETWORK_ERRORS,
    MessageTooLarge,
    SseParser,
    decode_messages,
    describe_failure,
)

if TYPE_CHECKING:
    from upstream.transports.streamable import StreamableHttpTransport

log = logging.getLogger("portcullis.upstream")

_BACKOFF_INITIAL: Final = 0.5


class _Outcome(Enum):
    STOP = "stop"
    """Not listening any more (no stream offered, or the session is gone)."""
    MOVED = "moved"
    """The stream brought events: reconnect soon."""
    RETRY = "retry"
    """It failed or brought nothing: back off."""


async def listen(transport: StreamableHttpTransport) -> None:
    """Hold the GET stream open until the transport closes or the stream is refused for good."""
    delay = _BACKOFF_INITIAL
    parser = SseParser(transport.limit)
    worked = False
    while not transport.is_closed:
        try:
            outcome, worked = await _connect_once(transport, parser, worked)
        except MessageTooLarge as exc:
            log.warning("[%s] server stream %s", transport.name, exc)
            outcome = _Outcome.RETRY
        except NETWORK_ERRORS as exc:
            log.debug(
                "[%s] server stream dropped: %s", transport.name, describe_failure(exc, transport.shown)
            )
            outcome = _Outcome.RETRY
        if outcome is _Outcome.STOP:
            return
        if outcome is _Outcome.MOVED:
            delay = _BACKOFF_INITIAL
        wait = min(parser.retry / 1000, transport.reconnect_max) if parser.retry is not None else delay
        delay = min(delay * 2, transport.reconnect_max)
        await asyncio.sleep(wait)


async def _connect_once(
    transport: StreamableHttpTransport, parser: SseParser, worked: bool
) -> tuple[_Outcome, bool]:
    """One GET; (what to do next, whether the stream has worked so far)."""
    session = transport.session_id
    response = await transport.get(parser.last_event_id)
    try:
        status = response.status
        if status == 405:
            log.debug("[%s] server offers no GET stream (405)", transport.name)
            return _Outcome.STOP, worked
        if status == 404 and not worked:
            log.info("[%s] server answered the GET stream with 404; not listening", transport.name)
            return _Outcome.STOP, worked
        if status == 404 and session is not None:
            await transport.report_expired(None, session)
            return _Outcome.STOP, worked
        if status != 200 or response.content_type != EVENT_STREAM:
            log.warning(
                "[%s] server stream: HTTP %d (%s); retrying", transport.name, status, response.content_type
            )
            return _Outcome.RETRY, worked
        before = parser.events
        await _relay_unprompted(transport, response, parser)
        return (_Outcome.MOVED if parser.events > before else _Outcome.RETRY), True
    finally:
        response.release()


async def _relay_unprompted(
    transport: StreamableHttpTransport, response: aiohttp.ClientResponse, parser: SseParser
) -> None:
    async for chunk in response.content.iter_any():
        for event in parser.feed(chunk):
            if event.event != "message":
                continue
            try:
                messages = decode_messages(event.data, transport.name)
            except ProtocolViolation as exc:
                log.warning("[%s] dropped a message of the server stream: it %s", transport.name, exc.detail)
                continue
            for message in messages:
                await transport.deliver(message, None)
