"""Renewing a session the upstream forgot (streamable HTTP answered 404 to our session id).

The transport only reports it (:class:`~upstream.errors.SessionExpired`); renewing means running
the handshake again, which is the session layer's job. One renewal serves every request that saw
the same forgotten session: the first to arrive renews, the others find it done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("portcullis.upstream")


class SessionRenewal:
    """Runs ``reinitialize`` at most once per forgotten session id."""

    def __init__(self, name: str, reinitialize: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self._reinitialize = reinitialize
        self._lock = asyncio.Lock()
        self._renewed: set[str] = set()

    async def renew(self, forgotten: str, where: str) -> None:
        """Make sure a session newer than ``forgotten`` exists; raises
        :class:`~upstream.errors.UpstreamError` when the upstream will not start one."""
        async with self._lock:
            if forgotten in self._renewed:
                return
            log.warning("[%s] upstream %s forgot our session; initializing a new one", self.name, where)
            await self._reinitialize()
            self._renewed.add(forgotten)
            log.info("[%s] re-initialized with %s", self.name, where)
