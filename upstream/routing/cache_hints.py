"""``ttlMs`` and ``cacheScope`` on the gateway's list and read answers to modern clients.

They are promises to every cache between here and the client, so they are never more generous
than what is true: a list is fresh for as long as its least fresh server allows (a modern
server says so itself; a legacy one that announces changes gets :data:`ANNOUNCED_LIST_TTL_MS`,
one that does not gets 0), and it is ``private`` as soon as any server said so, the server
keeps a session per client, or a policy made the answer depend on the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from middleware.protocol import VARIES_BY_PRINCIPAL, Message, Scope
from upstream.pool.supervisor import Supervisor
from upstream.routing.catalog import Kind

ANNOUNCED_LIST_TTL_MS: Final = 60_000
"""Freshness of a legacy server's list when it announces changes (clients hear of them on
``subscriptions/listen``, which invalidates sooner)."""
DISCOVER_TTL_MS: Final = 300_000


class CacheHints:
    def __init__(
        self, supervisors: Mapping[str, Supervisor], *, age_ms: Callable[[str, Kind], int] | None = None
    ) -> None:
        self._supervisors = supervisors
        self._age_ms = age_ms or (lambda server, kind: 0)
        """How old the catalog's copy of a server's list is: a reused list is fresh for less."""
        self._said: dict[tuple[str, str], tuple[int | None, str | None]] = {}
        """What each modern server said about its last list of each kind."""

    def saw_list(self, server: str, kind: Kind, result: Mapping[str, Any]) -> int | None:
        """Remember what a server said of its list; returns its ``ttlMs`` (None: unsaid)."""
        ttl, scope = result.get("ttlMs"), result.get("cacheScope")
        said = ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else None
        self._said[(server, kind.list_method)] = (said, scope if scope in ("public", "private") else None)
        return said

    def for_list(self, kind: Kind, servers: Sequence[str], scope: Scope) -> dict[str, Any]:
        ttls: list[int] = []
        private = bool(scope["state"].get(VARIES_BY_PRINCIPAL))
        for server in servers:
            supervisor = self._supervisors[server]
            said_ttl, said_scope = self._said.get((server, kind.list_method), (None, None))
            if said_ttl is not None:
                ttls.append(max(said_ttl - self._age_ms(server, kind), 0))
            else:
                ttls.append(self._legacy_ttl(supervisor, kind))
            private = private or said_scope == "private" or supervisor.spec.per_client
        return {"ttlMs": min(ttls, default=0), "cacheScope": "private" if private else "public"}

    def on_read(self, server: str, response: Message, scope: Scope) -> None:
        """Complete a read result's hints; a legacy server's content is private and stale."""
        result = response.get("result")
        if not isinstance(result, dict) or result.get("resultType") == "input_required":
            return
        ttl = result.get("ttlMs")
        result["ttlMs"] = max(ttl, 0) if isinstance(ttl, int) and not isinstance(ttl, bool) else 0
        public = (
            result.get("cacheScope") == "public"
            and not scope["state"].get(VARIES_BY_PRINCIPAL)
            and not self._supervisors[server].spec.per_client
        )
        result["cacheScope"] = "public" if public else "private"

    @staticmethod
    def _legacy_ttl(supervisor: Supervisor, kind: Kind) -> int:
        return ANNOUNCED_LIST_TTL_MS if announces(supervisor, kind) else 0


def announces(supervisor: Supervisor, kind: Kind) -> bool:
    """Does the server say it sends ``list_changed`` for lists of ``kind``?"""
    identity = supervisor.identity
    return identity is not None and bool(
        (identity.capabilities.get(kind.capability) or {}).get("listChanged")
    )
