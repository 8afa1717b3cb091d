"""``per_client`` session mode: one upstream session per gateway session, for stateful servers
that must not mix clients. Each is opened on the session's first call and closed when the
gateway session ends or has been idle past the limit; a crash ends only that one, and the
session's next call opens another. What such an upstream sends outside a call belongs to
its one client: notifications and server requests go to that session alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from middleware.protocol import Message
from upstream.errors import UpstreamError
from upstream.pool.status import ServerStatus, public_reason
from upstream.pool.supervisor import CrashRecord, ServerSpec, open_connection
from upstream.session.connection import CallChannel, ServerIdentity, UpstreamConnection
from upstream.transports.http_auth import CredentialsUnavailable

log = logging.getLogger("portcullis.upstream")

SessionChannelFactory = Callable[[str], Awaitable[CallChannel]]
"""Makes the channel to a gateway session's own stream (outside any call)."""


def refused_credentials(error: BaseException) -> bool:
    """Whether ``error`` came from getting a caller's credentials (a token exchange the
    authorization server refused), which says nothing of the server's health."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, CredentialsUnavailable):
            return True
        cause = cause.__cause__
    return False


class PerClientSupervisor:
    def __init__(
        self,
        spec: ServerSpec,
        *,
        client_info: dict[str, Any],
        session_channel: SessionChannelFactory,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self._client_info = client_info
        self._session_channel = session_channel
        self._connections: dict[str, UpstreamConnection] = {}
        self._last_used: dict[str, float] = {}
        self._starting: dict[str, asyncio.Task[UpstreamConnection]] = {}
        self._crashes = CrashRecord(spec.name, spec.restart)
        self._era = spec.era_memory()
        self._identity: ServerIdentity | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._closing = False
        self._failure: str | None = None
        """Why the last open failed (public words), until one works."""
        self.restarts = 0
        """Client sessions opened again after their upstream session ended under them (read by
        metrics, as the shared supervisor's starts after the first)."""

    @property
    def identity(self) -> ServerIdentity | None:
        """What the server said at its last handshake with any client."""
        return self._identity

    def status(self) -> ServerStatus:
        """Running while any client's session is alive; failed when the last open failed."""
        alive = [c for c in self._connections.values() if c.check_alive()]  # asks every one
        if alive:
            return ServerStatus("running")
        if self._crashes.looping:
            return ServerStatus("failed", f"is crash-looping; last: {self._failure}")
        busy = any(not task.done() for task in self._starting.values())
        if self._failure is not None:
            return ServerStatus("restarting" if busy else "failed", self._failure)
        return ServerStatus("starting" if busy else "not started")

    async def connection(self, session_id: str | None = None) -> UpstreamConnection:
        if session_id is None:
            raise UpstreamError(self.name, "serves one client per upstream session and needs a session")
        if self._closing:
            raise UpstreamError(self.name, "is shutting down")
        self._last_used[session_id] = time.monotonic()
        connection = self._connections.get(session_id)
        if connection is not None and connection.closed_reason is None:
            return connection
        self._crashes.refuse_if_looping()
        starting = self._starting.get(session_id)
        if starting is None or starting.done():
            if self.spec.admit is not None:
                self.spec.admit()
            starting = self._starting[session_id] = asyncio.create_task(self._open(session_id))
        return await asyncio.shield(starting)

    async def _open(self, session_id: str) -> UpstreamConnection:
        old = self._connections.pop(session_id, None)
        if old is not None:
            self._crashes.record(old.closed_reason or "stopped")
            await old.close()
        connection = await self._connect(session_id)
        if old is not None:
            self.restarts += 1
        return connection

    async def _connect(self, session_id: str) -> UpstreamConnection:
        await asyncio.sleep(self._crashes.backoff())
        channel = await self._session_channel(session_id)

        def deliver(server: str, message: Message) -> None:
            task = asyncio.create_task(channel.notify(message))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

        try:
            connection = await open_connection(self.spec, self._client_info, deliver, self._era)
        except UpstreamError as exc:
            if not refused_credentials(exc):  # one caller's credentials: not the server's crash
                self._crashes.record(exc.detail)
                self._failure = public_reason(exc)
            raise
        self._failure = None
        connection.default_channel = channel
        self._identity = connection.identity
        self._connections[session_id] = connection
        log.info(
            "[%s] opened a session for client %s... (%s)", self.name, session_id[:8], connection.description
        )
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._close_idle(), name=f"idle:{self.name}")
        return connection

    def release(self, session_id: str) -> None:
        """The gateway session ended: its upstream session ends too."""
        self._last_used.pop(session_id, None)
        connection = self._connections.pop(session_id, None)
        if connection is not None:
            task = asyncio.create_task(connection.close())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def restart(self) -> None:
        """Every client's upstream session ends now (not a crash); each opens again on its
        client's next call."""
        if self._closing:
            raise UpstreamError(self.name, "is shutting down")
        for session_id in list(self._connections):
            self.release(session_id)

    async def _close_idle(self) -> None:
        interval = max(0.5, min(30.0, self.spec.idle_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            cutoff = time.monotonic() - self.spec.idle_timeout
            for session_id, used in list(self._last_used.items()):
                if used < cutoff:
                    log.info("[%s] closing the idle session of client %s...", self.name, session_id[:8])
                    self.release(session_id)

    async def close(self) -> None:
        self._closing = True
        tasks = [t for t in (self._reaper, *self._starting.values()) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        connections, self._connections = self._connections, {}
        with contextlib.suppress(Exception):
            await asyncio.gather(*(c.close() for c in connections.values()))
