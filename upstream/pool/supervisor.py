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
from typing import Any, Protocol

from middleware.protocol.operations import OPERATIONS
from upstream.errors import UpstreamError
from upstream.pool.status import ServerStatus, public_reason
from upstream.session.connection import NotificationSink, ServerIdentity, UpstreamConnection
from upstream.session.era import PROBE_TIMEOUT, Era, EraMemory
from upstream.session.handshake import open_session
from upstream.transports.base import Transport

log = logging.getLogger("portcullis.upstream")


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_restarts: int = 5
    window: float = 60.0
    """More than ``max_restarts`` crashes within ``window`` seconds is a crash loop."""


class CrashRecord:
    """Crashes within the policy's window: the backoff before the next start, and whether
    the server is crash-looping (then nobody waits for it until the window clears)."""

    def __init__(self, name: str, policy: RestartPolicy) -> None:
        self._name = name
        self._policy = policy
        self._crashes: deque[float] = deque()
        self._failed_until = 0.0
        self._last_failure = ""

    def record(self, reason: str) -> None:
        now = time.monotonic()
        self._last_failure = reason
        self._crashes.append(now)
        while self._crashes and self._crashes[0] < now - self._policy.window:
            self._crashes.popleft()
        if len(self._crashes) > self._policy.max_restarts:
            self._failed_until = self._crashes[0] + self._policy.window

    @property
    def looping(self) -> bool:
        return time.monotonic() < self._failed_until

    def refuse_if_looping(self) -> None:
        now = time.monotonic()
        if now < self._failed_until:
            policy = self._policy
            raise UpstreamError(
                self._name,
                f"is crash-looping ({policy.max_restarts} restarts within {policy.window:g}s; "
                f"last: {self._last_failure}); retrying in {self._failed_until - now:.0f}s "
                "— check its command and log",
            )

    def backoff(self) -> float:
        """No wait after the first crash in a window, then doubling up to the cap."""
        recent = len(self._crashes)
        if recent <= 1:
            return 0.0
        policy = self._policy
        return float(min(policy.backoff_max, policy.backoff_initial * 2 ** (recent - 2)))

    def __len__(self) -> int:
        return len(self._crashes)


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """What the supervisor needs to run a server; built by the gateway from settings."""

    name: str
    connect: Callable[[], Transport]
    """Makes a fresh, unconnected transport for each start and restart."""
    start_eagerly: bool = False
    startup_timeout: float = 30.0
    restart: RestartPolicy = RestartPolicy()
    per_client: bool = False
    """One upstream session per gateway session instead of one shared by all."""
    idle_timeout: float = 600.0
    """A per-client upstream session idle this long is closed."""
    era: Era = "auto"
    """Probe for 2026-07-28 with ``server/discover`` (auto), or only initialize, or only modern."""
    probe_timeout: float | None = PROBE_TIMEOUT
    """How long ``server/discover`` may go unanswered before auto takes the server for legacy
    (stdio; None for HTTP, where a legacy server answers with a status)."""
    remember_era: bool = False
    """Keep what auto found for the next session (HTTP: per origin); stdio probes per process."""
    admit: Callable[[], None] | None = None
    """Before a per-client session opens: raises when this caller cannot have one (a server that
    exchanges each caller's token, and a caller without one), as the caller's fault, not a crash."""

    def era_memory(self) -> EraMemory:
        return EraMemory(self.era, remember=self.remember_era)


class Supervisor(Protocol):
    """A server's upstream sessions: one shared (ServerSupervisor) or one per client."""

    name: str
    spec: ServerSpec

    @property
    def identity(self) -> ServerIdentity | None: ...

    async def connection(self, session_id: str | None = None) -> UpstreamConnection: ...

    def status(self) -> ServerStatus:
        """The server's state now, for /healthz; cheap, and safe to show anyone."""
        ...

    @property
    def restarts(self) -> int:
        """For metrics: a shared server's starts after the first (after a crash or an operator's
        restart); a per-client server's client sessions opened again after theirs ended."""
        ...

    def release(self, session_id: str) -> None: ...

    async def restart(self) -> None:
        """Stop and start again on an operator's word: not a crash, so neither the backoff
        nor the crash-loop count sees it."""
        ...

    async def close(self) -> None: ...


async def open_connection(
    spec: ServerSpec,
    client_info: dict[str, Any],
    on_notification: NotificationSink,
    era: EraMemory | None = None,
) -> UpstreamConnection:
    """Start a transport and finish the handshake (of the era ``era`` expects, else the
    spec's) within the startup timeout."""
    memory = era or spec.era_memory()
    connection = UpstreamConnection(
        spec.name, spec.connect(), client_info=client_info, on_notification=on_notification
    )
    opening = open_session(
        connection, era=memory.next_era(), client_info=client_info, probe_timeout=spec.probe_timeout
    )
    try:
        async with OPERATIONS.track("connectivity"):  # counted per operation type, timeouts too
            await asyncio.wait_for(opening, spec.startup_timeout)
    except (UpstreamError, TimeoutError) as exc:
        memory.forget()
        reason = (
            f"did not finish its handshake within {spec.startup_timeout:g}s"
            if isinstance(exc, TimeoutError)
            else exc.detail
        )
        await connection.close()
        raise UpstreamError(spec.name, f"failed to start: {reason}") from exc
    except asyncio.CancelledError:
        await connection.close()
        raise
    memory.learned(connection.modern is not None)
    return connection


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
        self._crashes = CrashRecord(spec.name, spec.restart)
        self._era = spec.era_memory()
        self.starts = 0
        """Successful starts so far; every one after the first is a restart (read by metrics)."""
        self._closing = False
        self._failure: str | None = None
        """Why the last start failed or the last process ended (public words), until a start works."""

    @property
    def identity(self) -> ServerIdentity | None:
        connection = self._connection
        return connection.identity if connection is not None else None

    def status(self) -> ServerStatus:
        """Asks the process too (not only the reader), so a server killed a moment ago is not
        reported running; noticing it here also starts its restart."""
        connection = self._connection
        if connection is not None and connection.check_alive():
            return ServerStatus("running")
        if self._crashes.looping:
            return ServerStatus("failed", f"is crash-looping; last: {self._failure}")
        last = self._failure
        if connection is not None and connection.closed_reason is not None and self._watching():
            last = public_reason(connection.closed_reason)  # the watcher has not recorded it yet
        busy = self._watching() or (self._starting is not None and not self._starting.done())
        if last is None:
            return ServerStatus("starting" if busy else "not started")
        return ServerStatus("restarting" if busy else "failed", last)

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)

    def _watching(self) -> bool:
        return self._watcher is not None and not self._watcher.done()

    async def connection(self, session_id: str | None = None) -> UpstreamConnection:
        """The live connection, starting the server if needed (one start for all waiters)."""
        connection = self._connection
        if connection is not None and connection.closed_reason is None:
            return connection
        if self._closing:
            raise UpstreamError(self.name, "is shutting down")
        self._crashes.refuse_if_looping()
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self._start(), name=f"start:{self.name}")
        return await asyncio.shield(self._starting)

    def release(self, session_id: str) -> None:
        """Shared sessions outlive any one client: nothing to release."""

    async def restart(self) -> None:
        """Close the live connection and start again at once, in the background. The watcher
        goes first, so the closing is not taken for a crash; a start under way is left to finish
        (it is a fresh process already)."""
        if self._closing:
            raise UpstreamError(self.name, "is shutting down")
        watcher, self._watcher = self._watcher, None
        if watcher is not None and not watcher.done():
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        connection, self._connection = self._connection, None
        if connection is not None:
            log.info("[%s] restarting, as an operator asked", self.name)
            await connection.close()
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self._start(), name=f"start:{self.name}")
            # Nobody awaits this start: its failure is recorded by _start, and seen here.
            self._starting.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _start(self) -> UpstreamConnection:
        delay = self._crashes.backoff()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            connection = await open_connection(self.spec, self._client_info, self._on_notification, self._era)
        except UpstreamError as exc:
            self._crashes.record(exc.detail)
            self._failure = public_reason(exc)
            raise
        self._connection = connection
        self._failure = None
        self._watcher = asyncio.create_task(self._watch(connection), name=f"watch:{self.name}")
        info = connection.identity.server_info if connection.identity else {}
        log.info(
            "[%s] started (%s, %s, protocol %s)",
            self.name,
            connection.description,
            f"{info.get('name', '?')} {info.get('version') or ''}".strip(),
            connection.identity.protocol_version if connection.identity else "?",
        )
        self.starts += 1
        self._on_restart(self.name)
        return connection

    async def _watch(self, connection: UpstreamConnection) -> None:
        await connection.closed.wait()
        if self._closing:
            return
        reason = connection.closed_reason or "stopped"
        log.error("[%s] upstream server %s; restarting", self.name, reason)
        await connection.close()
        self._crashes.record(reason)
        self._failure = public_reason(reason)
        if self._crashes.looping:
            log.error("[%s] crash loop: %d crashes; not restarting for now", self.name, len(self._crashes))
            return
        with contextlib.suppress(UpstreamError):
            await self.connection()

    async def close(self) -> None:
        self._closing = True
        tasks = [t for t in (self._starting, self._watcher) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()
