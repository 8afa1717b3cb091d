"""Lazily started servers, started in the background and waited for only so long.

A merged list, or an ``initialize``, must not wait for the slowest server to start (a cold
``npx`` can take longer than a client's whole read timeout): the servers that are ready within
the patience answer, the others go on starting, and when one that an answer went out without
arrives, ``on_late`` is told so the gateway can send ``list_changed`` to its clients.
Servers with one upstream session per client are not started here: they start per session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from upstream.errors import UpstreamError
from upstream.pool.supervisor import Supervisor

log = logging.getLogger("portcullis.router")

DEFAULT_PATIENCE = 1.5


class Readiness:
    def __init__(
        self,
        supervisors: Mapping[str, Supervisor],
        *,
        patience: float = DEFAULT_PATIENCE,
        on_late: Callable[[str], None] | None = None,
    ) -> None:
        self._supervisors = supervisors
        self.patience = patience
        self._on_late = on_late
        self._starts: dict[str, asyncio.Task[None]] = {}
        self._late: set[str] = set()
        self.failures: dict[str, UpstreamError] = {}
        """Why the last background start of each server failed (until it starts)."""

    def started(self, server: str) -> bool:
        supervisor = self._supervisors[server]
        return supervisor.spec.per_client or supervisor.identity is not None

    async def ready(self, servers: Sequence[str], *, patience: float | None = None) -> set[str]:
        """Start the servers of ``servers`` that have not started, wait for them up to the
        patience, and return those still not ready (they go on starting)."""
        starts = {s: self._start(s) for s in servers if not self.started(s)}
        if not starts:
            return set()
        wait = self.patience if patience is None else patience
        await asyncio.wait(starts.values(), timeout=wait)
        not_ready = {s for s in starts if not self.started(s)}
        self._late.update(s for s in not_ready if not starts[s].done())
        return not_ready

    def _start(self, server: str) -> asyncio.Task[None]:
        task = self._starts.get(server)
        if task is None or task.done():
            task = self._starts[server] = asyncio.create_task(self._run(server), name=f"ready:{server}")
        return task

    async def _run(self, server: str) -> None:
        try:
            await self._supervisors[server].connection()
        except UpstreamError as exc:
            self.failures[server] = exc
            self._late.discard(server)  # nothing new to list
            return
        self.failures.pop(server, None)
        if server in self._late:
            self._late.discard(server)
            log.info("[%s] started after the lists went out without it; telling clients", server)
            if self._on_late is not None:
                self._on_late(server)

    async def close(self) -> None:
        tasks = [task for task in self._starts.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
