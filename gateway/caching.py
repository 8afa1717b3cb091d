"""Composition of the caches: which store, what each router reuses, and what invalidates them.

Lists are kept by each router's catalog (it needs them in memory to route anyway), fresh per
server; reads and read-only tool results by the :class:`ResultCache` middleware, in memory or,
when ``[redis] url`` is set, on Redis shared by the replicas. Upstream notifications reach here
before they are relayed to clients, so a client told of a change never gets the old answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.owners import OwnerLookup
from gateway.settings import Settings
from gateway.state.redis_cache import RedisResultStore
from middleware.cache.results import Lifetimes, ResultCache, Target
from middleware.cache.store import CacheCounts, MemoryResultStore, ResultStore, read_group, tools_group
from middleware.protocol import MCPApp, Message, Scope
from upstream.routing.freshness import CHANGED, ListTTL
from upstream.routing.router import Router

log = logging.getLogger("portcullis.cache")


class Caching:
    def __init__(self, settings: Settings) -> None:
        cache = settings.cache
        url = settings.redis.connect_url
        self.store: ResultStore = (
            RedisResultStore(url, prefix=settings.redis.prefix + "cache:", max_ttl=cache.max_ttl)
            if url
            else MemoryResultStore(max_entries=cache.max_entries, max_bytes=cache.max_bytes)
        )
        self.list_ttl = (
            ListTTL(cache.list_ttl, cache.max_ttl, cache.unannounced_list_ttl) if cache.lists else ListTTL()
        )
        self.lifetimes = Lifetimes(
            reads=cache.reads,
            read_ttl=cache.read_ttl,
            tool_results=cache.tool_results,
            tool_result_ttl=cache.tool_result_ttl,
            max_ttl=cache.max_ttl,
            max_entry_bytes=cache.max_entry_bytes,
        )
        self.results = CacheCounts()
        self._by_path: dict[str, Router] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def router_options(self) -> dict[str, Any]:
        return {"list_ttl": self.list_ttl}

    @property
    def _routers(self) -> list[Router]:
        return list(self._by_path.values())

    def wrap(self, app: MCPApp, router: Router, path: str) -> MCPApp:
        """``app`` (what the router answers) behind the answer cache, if any is on; ``router``
        (the one of ``path``, replacing any before it) hears of list changes either way."""
        self._by_path[path] = router
        if not (self.lifetimes.reads or self.lifetimes.tool_results):
            return app
        return ResultCache(
            app, store=self.store, resolve=_resolver(router), lifetimes=self.lifetimes, counts=self.results
        )

    def notified(self, forward: Callable[[str, Message], None]) -> Callable[[str, Message], None]:
        """``forward`` (the relay to clients), invalidating first what the notification says changed."""

        def notification(server: str, message: Message) -> None:
            method = message.get("method")
            if method in CHANGED:
                for router in self._routers:
                    router.lists.invalidate(server, CHANGED[method])
                if method == "notifications/tools/list_changed":
                    self._spawn(self.store.drop(tools_group(server)))
            elif method == "notifications/resources/updated":
                uri = (message.get("params") or {}).get("uri")
                if isinstance(uri, str):
                    self._spawn(self.store.drop(read_group(server, uri)))
            forward(server, message)

        return notification

    def restarted(self, forward: Callable[[str], None]) -> Callable[[str], None]:
        """``forward``, after forgetting what a restarted server listed: it may offer other things."""

        def started(server: str) -> None:
            for router in self._routers:
                router.lists.invalidate(server)
            self._spawn(self.store.drop(tools_group(server)))
            forward(server)

        return started

    def counts(self) -> dict[tuple[str, str], int]:
        """Every cache's counters as ``(method, "hit" | "miss" | "store") -> count``, for metrics.

        A merged list counts one hit or miss per server whose list it reused or asked again."""
        totals: dict[tuple[str, str], int] = {}
        for router in self._routers:
            list_counts = router.lists.freshness.counts
            for outcome, table in (("hit", list_counts.hits), ("miss", list_counts.misses)):
                for method, count in table.items():
                    totals[(method, outcome)] = totals.get((method, outcome), 0) + count
        results = self.results
        for outcome, table in (("hit", results.hits), ("miss", results.misses), ("store", results.stores)):
            for method, count in table.items():
                totals[(method, outcome)] = count
        return totals

    def status(self) -> dict[str, Any]:
        """What the caches hold and how they did (no keys: they may name arguments)."""
        store = self.store
        memory = isinstance(store, MemoryResultStore)
        counts: dict[str, dict[str, int]] = {}
        for (method, outcome), count in self.counts().items():
            counts.setdefault(method, {})[outcome] = count
        return {
            "backend": "memory" if memory else "redis",
            "entries": len(store) if isinstance(store, MemoryResultStore) else None,
            "bytes": store.bytes if isinstance(store, MemoryResultStore) else None,
            "list_ttl": self.list_ttl.unsaid,
            "tool_results": self.lifetimes.tool_results,
            "counts": counts,
        }

    async def clear(self, server: str | None = None, *, lists: bool = True, answers: bool = True) -> int:
        """Forget cached answers and lists (of ``server`` only, if given): the admin's "clear
        cache"; how many answers went (lists are asked for again on their next use)."""
        for router in self._routers if lists else ():
            for name in router.servers:
                if server is None or name == server:
                    router.lists.invalidate(name)
        return await self.store.clear(server) if answers else 0

    def cache_status(self) -> dict[str, Any]:
        """The gateway tool ``get_cache_status``."""
        return self.status()

    async def clear_cache(self, server: str | None, cache_type: str | None) -> dict[str, Any]:
        """The gateway tool ``clear_cache``: ``cache_type`` "lists", "results" or None (both)."""
        if cache_type not in (None, "lists", "results"):
            return {"cleared": 0, "error": 'cache_type must be "lists" or "results"'}
        cleared = await self.clear(server, lists=cache_type != "results", answers=cache_type != "lists")
        return {"cleared": cleared, "server": server, "cache_type": cache_type or "all"}

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.store.close()

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:  # boundary: an invalidation that fails must not die silently
                log.exception("cache invalidation failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _resolver(router: Router) -> Callable[[Scope, str, str], Awaitable[Target | None]]:
    """Where a tool or URI leads, from the router's catalog (no upstream call when listed)."""

    owners = OwnerLookup(router)

    async def resolve(scope: Scope, list_method: str, key: str) -> Target | None:
        found = await owners.owner(scope, list_method, key)
        if found is None:
            return None
        shared = not router.supervisors[found.server].spec.per_client
        return Target(found.server, found.name, shared, found.definition)

    return resolve
