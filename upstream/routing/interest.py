"""What each gateway session asked to hear about: a log level, resource subscriptions.

Upstream sessions are shared, so the upstream is told the union (the most verbose level, one
subscription per URI however many sessions hold it) and the gateway hands each session only
what it asked for.

Who holds a subscription changes at once; telling the upstream takes a round trip. So each
(server, URI) has its own turn (:meth:`Interest.ordered`): whoever changes the holders and
then tells the upstream does both in its turn, and the upstream hears subscribe and
unsubscribe in the order the holders changed (a stream that closes and one that opens on the
same URI must not leave the upstream unsubscribed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final

LOG_LEVELS: Final = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_RANK: Final = {level: rank for rank, level in enumerate(LOG_LEVELS)}


@dataclass(slots=True)
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class Interest:
    def __init__(self) -> None:
        self._log_levels: dict[str, str] = {}
        self._subscribers: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._turns: dict[tuple[str, str], _Turn] = {}

    # --- logging ------------------------------------------------------------------------------

    def set_log_level(self, session_id: str, level: str) -> None:
        self._log_levels[session_id] = level

    def level_of(self, session_id: str) -> str | None:
        return self._log_levels.get(session_id)

    def upstream_log_level(self) -> str | None:
        """The most verbose level any session asked for: what upstreams are set to."""
        if not self._log_levels:
            return None
        return min(self._log_levels.values(), key=_RANK.__getitem__)

    def log_listeners(self, level: str) -> set[str]:
        """Sessions whose level lets a message at ``level`` through."""
        rank = _RANK.get(level, len(LOG_LEVELS) - 1)
        return {sid for sid, wanted in self._log_levels.items() if rank >= _RANK[wanted]}

    # --- resource subscriptions ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def ordered(self, server: str, uri: str) -> AsyncIterator[None]:
        """Hold the turn of (server, uri) while deciding from its holders what to tell the
        upstream and telling it; turns are taken first come, first served."""
        key = (server, uri)
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = _Turn()
        turn.users += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.users -= 1
            if not turn.users:
                del self._turns[key]

    def subscribe(self, session_id: str, server: str, uri: str) -> bool:
        """Record it; True when it is the first for (server, uri), so subscribe upstream."""
        holders = self._subscribers[(server, uri)]
        first = not holders
        holders.add(session_id)
        return first

    def unsubscribe(self, session_id: str, server: str, uri: str) -> bool:
        """Forget it; True when nobody is left, so unsubscribe upstream."""
        holders = self._subscribers.get((server, uri))
        if not holders or session_id not in holders:
            return False
        holders.discard(session_id)
        if holders:
            return False
        del self._subscribers[(server, uri)]
        return True

    def held(self, server: str, uri: str) -> bool:
        """Whether any session holds (server, uri) now."""
        return bool(self._subscribers.get((server, uri)))

    def subscribers(self, server: str, uri: str) -> set[str]:
        return set(self._subscribers.get((server, uri), ()))

    def subscriptions_of(self, server: str) -> list[str]:
        return [uri for (owner, uri) in self._subscribers if owner == server]

    def drop_session(self, session_id: str) -> list[tuple[str, str]]:
        """Forget a session; returns the (server, uri) pairs nobody holds any more."""
        self._log_levels.pop(session_id, None)
        released = []
        for key in [k for k, holders in self._subscribers.items() if session_id in holders]:
            if self.unsubscribe(session_id, *key):
                released.append(key)
        return released
