"""The way from an upstream back to the client of one call, over the MCP-tier ``send`` and
``receive``: related notifications go out as they come, and server-to-client requests
(sampling, elicitation, roots) are relayed under a gateway id, their answers matched by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from typing import Any, Final

from middleware.protocol import (
    CLIENT_RESPONSE,
    METHOD_NOT_FOUND,
    NOTIFICATION,
    REQUEST_TIMEOUT,
    SERVER_REQUEST,
    Message,
    Receive,
    Scope,
    Send,
    ServerRequestEvent,
    error_message,
    is_modern,
)
from middleware.protocol.questions import UNANSWERABLE, missing_capability, question_digest
from middleware.protocol.scope import KNOWN_ANSWERS, PARKED

LATE_ANSWERS: Final = 30.0
"""Seconds a request relayed on a call's stream may still be answered after that call ended. A
stdio server's request names no call, so one that arrives while a single call is in flight goes
out on that call's stream; the call may end (its answer owes nothing to the request) before the
client's answer comes back. The front keeps the answer's way open as long."""

_ids = itertools.count(1)
_late: set[asyncio.Task[None]] = set()
"""Channels still waiting for late answers after their call ended (kept from the collector)."""
_REPLICA = secrets.token_hex(3)
"""In the ids of the requests relayed to clients: two replicas never hand a session the same one
(its answer may land on either, and is delivered by id)."""


def relayed_request_id(kind: str = "") -> str:
    """The id of a request relayed to a client (``kind``: which relay), never one another
    replica (or relay) hands the same session."""
    return f"pcs-{kind}{_REPLICA}-{next(_ids)}"


class ClientChannel:
    """One call's channel to its client; ``close()`` when the call ends."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._capabilities: dict[str, Any] = scope.get("client_capabilities") or {}
        self._state: dict[str, Any] = scope["state"]
        self._known: dict[str, Any] = self._state.get(KNOWN_ANSWERS) or {}
        self.speaks_mrtr = is_modern(scope.get("protocol_version"))
        self._request_id = scope.get("id")
        self.log_level: str | None = scope.get("log_level")
        self._receive = receive
        self._send = send
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def client_capabilities(self) -> dict[str, Any]:
        return self._capabilities

    @property
    def waiting_on_client(self) -> bool:
        return bool(self._state.get(PARKED))

    async def notify(self, message: Message) -> None:
        await self._send({"type": NOTIFICATION, "message": message})

    async def ask(self, request: Message) -> Message:
        problem = missing_capability(self._capabilities, request)
        if problem is not None and not self.speaks_mrtr:
            return error_message(None, METHOD_NOT_FOUND, problem)
        if self._closed:
            return error_message(None, REQUEST_TIMEOUT, "the client's call it would travel with has ended")
        if self._known and problem is None:
            known = self._known.get(question_digest(request))
            if known is not None:
                return {"jsonrpc": "2.0", "id": None, "result": known}
        gateway_id = relayed_request_id()
        answer: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[gateway_id] = answer
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_answers())
        try:
            event: ServerRequestEvent = {"type": SERVER_REQUEST, "message": {**request, "id": gateway_id}}
            if problem is not None:
                # The front of a 2026-07-28 client decides: refuse just this question, or the
                # whole call when nothing else is asked (-32021).
                event[UNANSWERABLE] = problem
            await self._send(event)
            return await answer
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self.notify(
                    {
                        "jsonrpc": "2.0",
                        "method": "notifications/cancelled",
                        "params": {"requestId": gateway_id, "reason": "cancelled by the server"},
                    }
                )
            raise
        finally:
            self._waiting.pop(gateway_id, None)

    async def _read_answers(self) -> None:
        while True:
            event = await self._receive()
            if event["type"] != CLIENT_RESPONSE:
                continue
            message: Message = event["message"]
            waiter = self._waiting.get(message.get("id"))  # type: ignore[arg-type]
            if waiter is not None and not waiter.done():
                waiter.set_result(message)

    async def close(self) -> None:
        """The call ended. Requests relayed on it and not answered yet may still be: their
        answers are awaited for :data:`LATE_ANSWERS` seconds in the background."""
        self._closed = True
        reader, self._reader = self._reader, None
        if reader is None:
            return
        unanswered = [future for future in self._waiting.values() if not future.done()]
        if unanswered:
            task = asyncio.create_task(_answered_late(reader, unanswered))
            _late.add(task)
            task.add_done_callback(_late.discard)
            return
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _answered_late(reader: asyncio.Task[None], unanswered: list[asyncio.Future[Message]]) -> None:
    """Keep reading the call's answers until every request relayed on it is answered, or until
    :data:`LATE_ANSWERS`; whatever is still unanswered then is answered with a timeout."""
    try:
        await asyncio.wait(unanswered, timeout=LATE_ANSWERS)
    finally:
        reader.cancel()
    for future in unanswered:
        if not future.done():
            why = f"the client did not answer within {LATE_ANSWERS:g} s of the end of its call"
            future.set_result(error_message(None, REQUEST_TIMEOUT, why))
