"""What each gateway session asked to hear about: a log level, resource subscriptions.

Upstream sessions are shared, so the upstream is told the union (the most verbose level, one
subscription per URI however many sessions hold it) and the gateway hands each session only
what it asked for.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Final

LOG_LEVELS: Final = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_RANK: Final = {level: rank for rank, level in enumerate(LOG_LEVELS)}


class Interest:
    def __init__(self) -> None:
        self._log_levels: dict[str, str] = {}
        self._subscribers: dict[tuple[str, str], set[str]] = defaultdict(set)

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
