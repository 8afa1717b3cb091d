"""How long each server's list may be served from the catalog without asking the server again.

A merged list used to fan out to every server on every first page; now each server's last list
is reused while it is fresh: for the ``ttlMs`` the server stated (0, or ``cacheScope:
"private"``, means ask every time), else for the gateway's configured ``[cache] list_ttl``
(both capped by ``max_ttl``), or the much shorter ``unannounced_list_ttl`` when the server does
not announce changes: a silent change (a rug pull) must still show within a second or so.
``list_changed`` from the server, or its restart, makes it stale at once. A server with one
upstream session per client is never reused: its list may differ per caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from upstream.routing.catalog import KINDS, Kind

DEFAULT_LIST_TTL: Final = 30.0
CHANGED: Final = {
    "notifications/tools/list_changed": ("tools/list",),
    "notifications/prompts/list_changed": ("prompts/list",),
    "notifications/resources/list_changed": ("resources/list", "resources/templates/list"),
}
"""Which lists each upstream notification makes stale."""


@dataclass(frozen=True, slots=True)
class ListTTL:
    """Seconds a server's list is reused when it states no ``ttlMs``, and at most (0, 0: never)."""

    unsaid: float = 0.0
    most: float = 0.0
    unannounced: float = 0.0
    """For a server that does not announce ``list_changed`` (and states no ``ttlMs``)."""


@dataclass(slots=True)
class ListCounts:
    """Hits (a server's list served from the catalog) and misses (asked again), per list."""

    hits: dict[str, int] = field(default_factory=lambda: {kind.list_method: 0 for kind in KINDS})
    misses: dict[str, int] = field(default_factory=lambda: {kind.list_method: 0 for kind in KINDS})


class Freshness:
    """Until when each (server, list) may be reused, on a monotonic clock."""

    def __init__(
        self,
        ttl: float = DEFAULT_LIST_TTL,
        *,
        max_ttl: float = 3600.0,
        unannounced_ttl: float = 0.0,
        private: Callable[[str], bool] = lambda server: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = min(ttl, max_ttl)
        self._max_ttl = max_ttl
        self._unannounced = min(unannounced_ttl, ttl, max_ttl)
        self._private = private
        self._clock = clock
        self._until: dict[tuple[str, str], tuple[float, float]] = {}
        """(server, list method) -> (fetched at, fresh until)."""
        self.counts = ListCounts()

    def stale(self, kind: Kind, servers: Sequence[str]) -> list[str]:
        """The servers of ``servers`` whose list of ``kind`` must be asked for again (counted)."""
        now, method = self._clock(), kind.list_method
        stale = [s for s in servers if self._private(s) or self._until.get((s, method), (0.0, 0.0))[1] <= now]
        counts = self.counts
        counts.misses[method] += len(stale)
        counts.hits[method] += len(servers) - len(stale)
        return stale

    def fetched(self, server: str, kind: Kind, ttl_ms: int | None, *, announced: bool = True) -> None:
        """``server`` just listed ``kind``, saying it stays fresh ``ttl_ms`` (None: unsaid) and
        whether it announces changes."""
        if ttl_ms is not None:
            ttl = min(max(ttl_ms, 0) / 1000, self._max_ttl)
        else:
            ttl = self._ttl if announced else self._unannounced
        now = self._clock()
        self._until[(server, kind.list_method)] = (now, now + ttl)

    def age_ms(self, server: str, kind: Kind) -> int:
        """How long ago ``server`` last listed ``kind`` (0 when never)."""
        fetched = self._until.get((server, kind.list_method))
        return 0 if fetched is None else int((self._clock() - fetched[0]) * 1000)

    def invalidate(self, server: str, methods: Iterable[str] | None = None) -> None:
        """Make ``server``'s lists (those of ``methods``, else all) stale at once."""
        for method in methods if methods is not None else [kind.list_method for kind in KINDS]:
            self._until.pop((server, method), None)
