"""Reading the answer to one streamable-HTTP request: a JSON body, or an SSE stream relayed
event by event and resumed with ``Last-Event-ID`` when it breaks before the response.

Split from :mod:`upstream.transports.streamable` because it is the one part that knows the
shapes an answer can take; the transport only says where messages go (``deliver``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from middleware.protocol import INTERNAL_ERROR, Message, error_message
from upstream.errors import ProtocolViolation, UpstreamBrokeProtocol
from upstream.transports.http_support import (
    EVENT_STREAM,
    JSON,
    NETWORK_ERRORS,
    MessageTooLarge,
    SseParser,
    decode_messages,
    describe_failure,
    error_body,
    forward_error,
    read_limited,
    upstream_error,
)

if TYPE_CHECKING:
    from upstream.transports.streamable import StreamableHttpTransport

log = logging.getLogger("portcullis.upstream")

Deliver = Callable[[Message], Awaitable[None]]

_FRUITLESS_RESUMES: Final = 1
"""Resumes in a row that bring no new event before we give up on a broken answer stream."""
_FRUITLESS_POLLS: Final = 3
"""The same, once the server asked us to poll (it sent a ``retry`` field)."""


class AnswerFailed(Exception):
    """The answer to a request cannot come; ``detail`` becomes the JSON-RPC error we deliver."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


def answers(message: Message, request_id: Any) -> bool:
    return (
        "method" not in message
        and message.get("id") == request_id
        and ("result" in message or "error" in message)
    )


async def answer_or_error(
    transport: StreamableHttpTransport,
    response: aiohttp.ClientResponse,
    request_id: Any,
    deliver: Deliver,
    *,
    resumable: bool = True,
    deadline: asyncio.Timeout | None = None,
) -> None:
    """Relay what ``response`` carries for ``request_id``; deliver an error if the answer
    cannot come, so the caller never hangs. ``deadline``, the request's own, bounds reading a
    JSON answer; without one, the read gets ``timeout`` of its own."""
    name = transport.name
    try:
        await read_answer(transport, response, request_id, deliver, resumable=resumable, deadline=deadline)
        return
    except ProtocolViolation as exc:
        failure = UpstreamBrokeProtocol(name, exc.detail).to_message(request_id)
    except AnswerFailed as answer_failed:
        failure = upstream_error(name, request_id, answer_failed.detail, status=answer_failed.status)
    except (*NETWORK_ERRORS, MessageTooLarge) as exc:
        failure = upstream_error(name, request_id, describe_failure(exc, transport.shown))
    except Exception as exc:  # boundary: a bug here must still answer the call
        log.exception("[%s] reading the answer to %r failed", name, request_id)
        failure_text = f"gateway failed reading the answer: {exc!r}"
        failure = error_message(request_id, INTERNAL_ERROR, failure_text, fault="gateway")
    finally:
        response.release()
    _disarm(deadline)
    await deliver(failure)


def _disarm(deadline: asyncio.Timeout | None) -> None:
    """The answer is in (or cannot come): delivering it must not be cut short by the deadline."""
    if deadline is not None:
        deadline.reschedule(None)


async def read_answer(
    transport: StreamableHttpTransport,
    response: aiohttp.ClientResponse,
    request_id: Any,
    deliver: Deliver,
    *,
    resumable: bool = True,
    deadline: asyncio.Timeout | None = None,
) -> None:
    """Deliver what ``response`` carries for ``request_id``; raises :class:`AnswerFailed` when
    the answer cannot come."""
    if response.status != 200:
        await _status_failure(transport, response, request_id, deliver, deadline)
        return
    content_type = response.content_type
    if content_type == JSON:
        await _read_json(transport, response, request_id, deliver, deadline)
        return
    if content_type != EVENT_STREAM:
        raise AnswerFailed(f"answered with unexpected Content-Type {content_type!r} ({transport.shown})")
    _disarm(deadline)  # a stream may last as long as the call: it is watched for silence instead
    parser = SseParser(transport.limit)
    answered, broke = await _relay(transport, response, parser, request_id, deliver)
    response.release()
    fruitless = 0
    while not answered:
        cause = f"its event stream for the request {broke or 'ended'}"
        if parser.last_event_id is None or not resumable:
            raise AnswerFailed(f"{cause} before the response ({transport.shown})")
        if fruitless >= (_FRUITLESS_POLLS if parser.retry is not None else _FRUITLESS_RESUMES):
            raise AnswerFailed(
                f"{cause} before the response, and resuming it with Last-Event-ID did not bring "
                f"the response ({transport.shown})"
            )
        before = parser.events
        answered, broke = await _resume(transport, parser, request_id, deliver, cause)
        fruitless = 0 if parser.events > before else fruitless + 1


async def _read_json(
    transport: StreamableHttpTransport,
    response: aiohttp.ClientResponse,
    request_id: Any,
    deliver: Deliver,
    deadline: asyncio.Timeout | None,
) -> None:
    if deadline is None:
        async with asyncio.timeout(transport.timeout):
            body = await read_limited(response, transport.limit)
    else:
        body = await read_limited(response, transport.limit)
        deadline.reschedule(None)
    answered = False
    for message in decode_messages(body, transport.name):
        answered = answered or answers(message, request_id)
        await deliver(message)
    if not answered:
        raise AnswerFailed(f"answered without a response to the request ({transport.shown})")


async def _resume(
    transport: StreamableHttpTransport, parser: SseParser, request_id: Any, deliver: Deliver, cause: str
) -> tuple[bool, str | None]:
    """GET the broken stream again from ``Last-Event-ID`` (after ``retry`` if the server set one)."""
    if parser.retry:
        await asyncio.sleep(min(parser.retry / 1000, transport.reconnect_max))
    resumed = await transport.get(parser.last_event_id)
    try:
        if resumed.status != 200 or resumed.content_type != EVENT_STREAM:
            raise AnswerFailed(
                f"{cause} before the response, and resuming it was refused "
                f"(HTTP {resumed.status} from {transport.shown})",
                resumed.status,
            )
        return await _relay(transport, resumed, parser, request_id, deliver)
    finally:
        resumed.release()


async def _relay(
    transport: StreamableHttpTransport,
    response: aiohttp.ClientResponse,
    parser: SseParser,
    request_id: Any,
    deliver: Deliver,
) -> tuple[bool, str | None]:
    """Relay events as they arrive; (answered, how the stream broke if it did)."""
    answered = False
    idle = transport.idle_timeout
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(idle) as silence:
            async for chunk in response.content.iter_any():
                silence.reschedule(loop.time() + idle)
                for event in parser.feed(chunk):
                    if event.event != "message":
                        continue
                    for message in decode_messages(event.data, transport.name):
                        if not answered and answers(message, request_id):
                            answered = True
                        await deliver(message)
    except NETWORK_ERRORS as exc:
        if answered:
            log.debug("[%s] stream broke after the answer: %s", transport.name, exc)
            return True, None
        return False, "broke off" if not isinstance(exc, TimeoutError) else "went idle too long"
    return answered, None


async def _status_failure(
    transport: StreamableHttpTransport,
    response: aiohttp.ClientResponse,
    request_id: Any,
    deliver: Deliver,
    deadline: asyncio.Timeout | None,
) -> None:
    status = response.status
    if status == 202:
        raise AnswerFailed(
            f"accepted the request (HTTP 202) but sent no response ({transport.shown})", status
        )
    detail = transport.refusal(response, transport.shown)
    if status >= 400:
        error = await error_body(response)
        if status == 401:  # after a fresh set was refused too: ours to word, not a relayed error
            raise AnswerFailed(f"{detail}: {error['message']}" if error else detail, status)
        if error is not None:
            _disarm(deadline)
            await deliver(forward_error(request_id, error, status))
            return
    raise AnswerFailed(detail, status)
