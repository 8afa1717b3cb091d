"""One stdio client relayed to one streamable HTTP endpoint, in either protocol era.

The wire work is :class:`~upstream.transports.streamable.StreamableHttpTransport`'s, the same
client the gateway uses towards HTTP upstreams: it learns the session from the client's own
``initialize``, opens the GET stream after ``notifications/initialized``, sends a 2026-07-28
request on its own POST with the mirrored headers, and says when the server forgot the session.
What stdio adds is done here:

- a 2026-07-28 client cancels with ``notifications/cancelled`` (stdio has no stream to close):
  the request's HTTP stream is closed instead, which is how HTTP cancels;
- a forgotten session (a remote gateway restarted) is renewed with the client's own handshake,
  and the requests it refused are sent again, so the client sees nothing;
- the ``Mcp-Param-*`` headers a tool's schema asks for (:mod:`.tool_headers`);
- a request the endpoint cannot be reached for gets an error answer, never silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

from gateway.stdio.lines import BadLine, MessageWriter, parse
from gateway.stdio.tool_headers import ToolHeaders
from middleware.protocol import UNAUTHORIZED, UPSTREAM_UNAVAILABLE, Message, error_message
from upstream.errors import CredentialsRefused, SessionExpired, TransportClosed
from upstream.transports.http_support import modern_version
from upstream.transports.streamable import StreamableHttpTransport

log = logging.getLogger("portcullis.stdio")

EOF_GRACE: Final = 5.0
"""Seconds the requests still unanswered at the end of stdin get before the bridge stops (a
piped one-shot use wants its answers; a client shutting down waits for us anyway)."""
RENEWAL_PATIENCE: Final = 30.0
"""Seconds the bridge waits for a renewed session before failing what waits on it."""


class Bridge:
    """Relays one stdio client to one streamable HTTP endpoint until stdin ends."""

    def __init__(self, transport: StreamableHttpTransport, writer: MessageWriter) -> None:
        self._transport = transport
        self._writer = writer
        self._pending: dict[Any, Message] = {}
        """The client's requests sent and not answered yet, by id (resent after a renewal)."""
        self._modern: set[Any] = set()
        self._handshake: dict[str, Message] = {}
        self._own: dict[Any, asyncio.Future[Message]] = {}
        """Answers to the bridge's own requests (a renewal's initialize, a tools/list)."""
        self._own_ids = (f"portcullis-stdio-{n}" for n in itertools.count(1))
        self._renewing: asyncio.Task[bool] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.tools = ToolHeaders(self)
        self._nothing_pending = asyncio.Event()

    async def run(self, lines: AsyncIterator[bytes]) -> None:
        """Relay until stdin ends, then end the session (DELETE) and stop."""
        relay = asyncio.create_task(self._relay(), name="stdio-relay")
        try:
            async for line in lines:
                try:
                    message = parse(line)
                except BadLine as bad:
                    self._writer.write(bad.answer)
                    continue
                if message is not None:
                    await self.from_client(message)
            await self._answered(EOF_GRACE)
        finally:
            relay.cancel()
            for task in [*self._tasks, *([self._renewing] if self._renewing else [])]:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
            await self._transport.close()

    async def _answered(self, patience: float) -> None:
        """Wait (up to ``patience``) for the answers still owed to the client."""
        self._nothing_pending.clear()  # set whenever nothing was pending so far
        self._settled()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(patience):
                await self._nothing_pending.wait()

    def _settled(self) -> None:
        if not self._pending:
            self._nothing_pending.set()

    # --- client to endpoint ---------------------------------------------------------------------

    async def from_client(self, message: Message) -> None:
        method = message.get("method")
        if method is None:  # a response to a request the endpoint relayed to the client
            await self._send(message)
            return
        if "id" not in message:
            await self._notification(message)
            return
        self._pending[message["id"]] = message
        if method == "initialize":
            self._handshake = {"initialize": message}
        if modern_version(message) is not None:
            self._modern.add(message["id"])
        await self._send(message, self.tools.headers_for(message))

    async def _notification(self, message: Message) -> None:
        method = message["method"]
        if method == "notifications/initialized":
            self._handshake["initialized"] = message
        if method == "notifications/cancelled":
            request_id = (message.get("params") or {}).get("requestId")
            self._pending.pop(request_id, None)
            self._settled()
            if request_id in self._modern:
                self._modern.discard(request_id)
                self._transport.abandon(request_id)  # HTTP's way: close that request's stream
                return
        await self._send(message)

    async def _send(self, message: Message, headers: dict[str, str] | None = None) -> None:
        """Send, or answer the request at once with why it could not be sent."""
        try:
            await self._transport.send(message, headers)
        except TransportClosed as exc:
            if "id" in message and "method" in message:
                self._pending.pop(message["id"], None)
                self._settled()
                refused = isinstance(exc, CredentialsRefused)
                self._writer.write(unreachable(message["id"], str(exc), refused=refused))
            else:
                log.warning("stdio: could not send %s: %s", message.get("method") or "a response", exc)

    async def request(self, message: Message) -> Message:
        """Send a request of the bridge's own and wait for its answer (not shown to the client)."""
        request_id = next(self._own_ids)
        answer: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._own[request_id] = answer
        try:
            await self._transport.send({**message, "id": request_id})
            async with asyncio.timeout(RENEWAL_PATIENCE):
                return await answer
        finally:
            self._own.pop(request_id, None)

    # --- endpoint to client ---------------------------------------------------------------------

    async def _relay(self) -> None:
        while True:
            try:
                message, _ = await self._transport.receive()
            except SessionExpired as expired:
                self._spawn(self._renew_then_resend(expired.request_id))
                continue
            except TransportClosed:
                return
            self._to_client(message)

    def _to_client(self, message: Message) -> None:
        request_id = message.get("id")
        if "method" not in message and request_id in self._own:
            answer = self._own.pop(request_id)
            if not answer.done():
                answer.set_result(message)
            return
        if "method" not in message:
            asked = self._pending.pop(request_id, None)
            self._modern.discard(request_id)
            self._settled()
            if asked is not None:
                self.tools.learn(asked, message)
                if self.tools.retry_worth(asked, message):
                    self._spawn(self._retry_with_headers(asked))
                    return
        self._writer.write(message)

    async def _retry_with_headers(self, asked: Message) -> None:
        """The endpoint wanted ``Mcp-Param-*`` headers the bridge could not write: list the
        tools (which teaches it the schemas) and send the call once more."""
        await self.tools.refresh(asked)
        self._pending[asked["id"]] = asked
        self._modern.add(asked["id"])
        await self._send(asked, self.tools.headers_for(asked, retried=True))

    # --- a forgotten session ----------------------------------------------------------------------

    async def _renew_then_resend(self, request_id: Any) -> None:
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.create_task(self._renew(), name="stdio-renew")
        renewed = await asyncio.shield(self._renewing)
        asked = self._pending.get(request_id)
        if asked is None:
            return
        if renewed:
            await self._send(asked, self.tools.headers_for(asked))
        else:
            self._pending.pop(request_id, None)
            self._settled()
            problem = "forgot the session and a new one could not be opened; restart the client"
            self._writer.write(unreachable(request_id, problem))

    async def _renew(self) -> bool:
        """A new session opened with the client's own handshake; False when it failed."""
        initialize = self._handshake.get("initialize")
        if initialize is None:
            return False
        log.info("stdio: the gateway forgot the session; opening a new one")
        try:
            answer = await self.request(initialize)
            if "result" not in answer:
                return False
            await self._transport.send(
                self._handshake.get("initialized")
                or {"jsonrpc": "2.0", "method": "notifications/initialized"}
            )
        except (TransportClosed, TimeoutError) as exc:
            log.warning("stdio: could not open a new session: %s", exc)
            return False
        return True

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def unreachable(request_id: Any, detail: str, *, refused: bool = False) -> Message:
    """The answer to a request that could not reach the gateway, saying why and what to do
    (``refused``: the gateway refused our credentials, which the client's user must fix)."""
    code = UNAUTHORIZED if refused else UPSTREAM_UNAVAILABLE
    return error_message(request_id, code, f"Portcullis {detail}", fault="client" if refused else "upstream")
