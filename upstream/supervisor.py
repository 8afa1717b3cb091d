"""Supervision of one upstream server: start (lazily or at once), restart with backoff, give up
on a crash loop, and shut down cleanly.

A crash fails every in-flight call at once (the connection does that); the supervisor then
restarts the server in the background so the next call finds it ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from upstream.connection import (
    NotificationSink,
    ServerIdentity,
    UpstreamConnection,
    UpstreamError,
)
from upstream.transport import Transport

log = logging.getLogger("portcullis.upstream")


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_restarts: int = 5
    window: float = 60.0
    """More than ``max_restarts`` crashes within ``window`` seconds is a crash loop."""


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """What the supervisor needs to run a server; built by the gateway from settings."""

    name: str
    connect: Callable[[], Transport]
    """Makes a fresh, unconnected transport for each start and restart."""
    start_eagerly: bool = False
    startup_timeout: float = 30.0
    restart: RestartPolicy = RestartPolicy()


class ServerSupervisor:
    def __init__(
        self,
        spec: ServerSpec,
        *,
        client_info: dict[str, Any],
        on_notification: NotificationSink,
        on_restart: Callable[[str], None],
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self._client_info = client_info
        self._on_notification = on_notification
        self._on_restart = on_restart
        self._connection: UpstreamConnection | None = None
        self._starting: asyncio.Task[UpstreamConnection] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._crashes: deque[float] = deque()
        self._failed_until = 0.0
        self._last_failure = ""
        self._closing = False
        self.transport: Transport | None = None

    @property
    def identity(self) -> ServerIdentity | None:
        connection = self._connection
        return connection.identity if connection is not None else None

    async def connection(self) -> UpstreamConnection:
        """The live connection, starting the server if needed (one start for all waiters)."""
        connection = self._connection
        if connection is not None and connection.closed_reason is None:
            return connection
        if self._closing:
            raise UpstreamError(self.name, "is shutting down")
        now = time.monotonic()
        if now < self._failed_until:
            raise UpstreamError(
                self.name,
                f"is crash-looping ({self.spec.restart.max_restarts} restarts within "
                f"{self.spec.restart.window:g}s; last: {self._last_failure}); "
                f"retrying in {self._failed_until - now:.0f}s — check its command and log",
            )
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self._start(), name=f"start:{self.name}")
        return await asyncio.shield(self._starting)

    async def _start(self) -> UpstreamConnection:
        delay = self._backoff_delay()
        if delay > 0:
            await asyncio.sleep(delay)
        transport = self.spec.connect()
        connection = UpstreamConnection(
            self.name,
            transport,
            client_info=self._client_info,
            on_notification=self._on_notification,
        )
        try:
            await asyncio.wait_for(connection.open(), self.spec.startup_timeout)
        except (UpstreamError, TimeoutError) as exc:
            reason = (
                f"did not finish initialize within {self.spec.startup_timeout:g}s"
                if isinstance(exc, TimeoutError)
                else exc.detail
            )
            await connection.close()
            self._record_crash(reason)
            raise UpstreamError(self.name, f"failed to start: {reason}") from exc
        except asyncio.CancelledError:
            await connection.close()
            raise
        self.transport = transport
        self._connection = connection
        self._watcher = asyncio.create_task(self._watch(connection), name=f"watch:{self.name}")
        identity = connection.identity
        info = identity.server_info if identity else {}
        log.info(
            "[%s] started (%s, %s, protocol %s)",
            self.name,
            getattr(transport, "description", type(transport).__name__),
            f"{info.get('name', '?')} {info.get('version') or ''}".strip(),
            identity.protocol_version if identity else "?",
        )
        self._on_restart(self.name)
        return connection

    async def _watch(self, connection: UpstreamConnection) -> None:
        await connection.closed.wait()
        if self._closing:
            return
        reason = connection.closed_reason or "stopped"
        log.error("[%s] upstream server %s; restarting", self.name, reason)
        await connection.close()
        self._record_crash(reason)
        if time.monotonic() < self._failed_until:
            log.error(
                "[%s] crash loop: %d crashes within %gs; not restarting for now",
                self.name,
                len(self._crashes),
                self.spec.restart.window,
            )
            return
        with contextlib.suppress(UpstreamError):
            await self.connection()

    def _record_crash(self, reason: str) -> None:
        now = time.monotonic()
        policy = self.spec.restart
        self._last_failure = reason
        self._crashes.append(now)
        while self._crashes and self._crashes[0] < now - policy.window:
            self._crashes.popleft()
        if len(self._crashes) > policy.max_restarts:
            self._failed_until = self._crashes[0] + policy.window

    def _backoff_delay(self) -> float:
        """No wait after the first crash in a window, then doubling up to the cap."""
        recent = len(self._crashes)
        if recent <= 1:
            return 0.0
        policy = self.spec.restart
        return float(min(policy.backoff_max, policy.backoff_initial * 2 ** (recent - 2)))

    async def close(self) -> None:
        self._closing = True
        tasks = [t for t in (self._starting, self._watcher) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()
