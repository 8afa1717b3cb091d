"""The merged lists of one endpoint: fan out to its servers, merge, page, and know who owns what.

A first page refreshes the lists that are no longer fresh (:mod:`upstream.routing.freshness`;
servers not started within the patience are left out and the answer says so with ``ttlMs`` 0);
later pages walk the one snapshot of the catalog version their cursor names.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from middleware.protocol import InvalidParams, PolicyError, Scope, is_modern
from middleware.protocol.param_headers import annotation_problem
from upstream.errors import UpstreamError
from upstream.pool.supervisor import Supervisor
from upstream.routing.cache_hints import CacheHints, announces
from upstream.routing.catalog import KINDS, RESOURCES, TEMPLATES, TOOLS, Catalog, Kind, Namespace, Owner
from upstream.routing.freshness import Freshness, ListTTL
from upstream.routing.pages import EXPIRED, InvalidCursor, Pages, SnapshotLimits
from upstream.routing.readiness import Readiness

log = logging.getLogger("portcullis.router")

MAX_UPSTREAM_PAGES: Final = 100


class Lists:
    def __init__(
        self,
        supervisors: Mapping[str, Supervisor],
        namespace: Namespace,
        servers: Sequence[str],
        *,
        page_size: int,
        snapshots: SnapshotLimits | None,
        readiness: Readiness | None,
        list_ttl: ListTTL | None = None,
    ) -> None:
        self._supervisors = supervisors
        self._namespace = namespace
        self._servers = servers
        self._readiness = readiness
        self.catalogs = {kind: Catalog(kind, namespace, servers) for kind in KINDS}
        self._pages = {kind: Pages(kind.list_method, page_size, snapshots) for kind in KINDS}
        ttl = list_ttl or ListTTL()
        per_client = {s for s in servers if supervisors[s].spec.per_client}
        self.freshness = Freshness(
            ttl.unsaid, max_ttl=ttl.most, unannounced_ttl=ttl.unannounced, private=per_client.__contains__
        )
        self.hints = CacheHints(supervisors, age_ms=self.freshness.age_ms)
        self._down: dict[str, UpstreamError] = {}
        """Why each server could not list its names at the last refresh."""
        self._reported: set[str] = set()
        self._checked_tools: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
        """Each server's last tools list as fetched, and its valid tools: a list that has not
        changed since (one C-speed comparison) is not walked again."""

    async def answer(self, scope: Scope, kind: Kind, session: str | None) -> dict[str, Any]:
        """The result of a list request: a first page (after a refresh) or a later one."""
        pages, cursor = self._pages[kind], scope["params"].get("cursor")
        left_out: set[str] = set()
        items: Sequence[dict[str, Any]]
        if cursor is None:
            left_out = await self.refresh(kind, session, patient=True, reuse=True)
            catalog = self.catalogs[kind]
            items, version, offset = catalog.merged(), catalog.version, 0
            pages.publish(version, items)
        else:
            try:
                position = pages.decode(cursor)
            except InvalidCursor as exc:
                raise InvalidParams(f"invalid cursor: {exc}") from None
            snapshot = pages.snapshot(position)
            if snapshot is None:
                raise InvalidParams(EXPIRED)
            items, version, offset = snapshot, position.version, position.offset
        page, next_cursor = pages.page(items, version, offset)
        result: dict[str, Any] = {kind.result_key: page}
        if next_cursor is not None:
            result["nextCursor"] = next_cursor
        if is_modern(scope["protocol_version"]):
            result.update(self.hints.for_list(kind, self._servers, scope))
            if left_out:
                result["ttlMs"] = 0  # partial: the rest arrive with list_changed
        return result

    async def refresh(
        self, kind: Kind, session: str | None, *, patient: bool = False, reuse: bool = False
    ) -> set[str]:
        """Fetch every server's list (only the stale ones when ``reuse``); returns the servers
        left out because they were not ready within the patience (only when ``patient``: a call
        waits for the server it needs)."""
        servers = self.freshness.stale(kind, self._servers) if reuse else list(self._servers)
        left_out = set[str]()
        if not servers:
            return left_out
        readiness = self._readiness
        if patient and readiness is not None:
            left_out = await readiness.ready(servers)
            for server in left_out:
                if server in readiness.failures:
                    self._down[server] = readiness.failures[server]
            servers = [s for s in servers if s not in left_out]
        await self._install(kind, servers, session)
        return left_out

    async def prime(self) -> list[str]:
        """List the running servers' names; the collisions found."""
        started = [s for s in self._servers if self._supervisors[s].identity is not None]
        problems: list[str] = []
        for kind in KINDS:
            problems += await self._install(kind, started, None)
        return problems

    async def _install(self, kind: Kind, servers: Sequence[str], session: str | None) -> list[str]:
        lists = await asyncio.gather(*(self._fetch_all(s, kind, session) for s in servers))
        fresh = {server: items for server, items in zip(servers, lists, strict=True) if items is not None}
        problems = self.catalogs[kind].install(fresh)
        self._report_once(problems, logging.ERROR, "name collision refused: %s")
        return problems

    def _report_once(self, messages: Sequence[str], level: int, template: str) -> None:
        for message in messages:
            if message not in self._reported:  # once, not on every list
                self._reported.add(message)
                log.log(level, template, message)

    async def _fetch_all(self, server: str, kind: Kind, session: str | None) -> list[dict[str, Any]] | None:
        """Every page of one server's list, or None when the server cannot answer now."""
        try:
            connection = await self._supervisors[server].connection(session)
            self._down.pop(server, None)
            identity = connection.identity
            if identity is None or kind.capability not in identity.capabilities:
                self.freshness.fetched(server, kind, None)
                return []
            items: list[dict[str, Any]] = []
            params: dict[str, Any] = {}
            ttls: list[int | None] = []
            for _ in range(MAX_UPSTREAM_PAGES):
                response = await connection.request(kind.list_method, params or None)
                result = response.get("result")
                if not isinstance(result, dict):
                    log.warning("[%s] %s failed: %s", server, kind.list_method, response.get("error"))
                    return None
                items += [i for i in result.get(kind.result_key) or () if isinstance(i, dict)]
                ttls.append(self.hints.saw_list(server, kind, result))
                if result.get("cacheScope") == "private":
                    ttls.append(0)  # whom it was for is not ours to know: never reused
                cursor = result.get("nextCursor")
                if not cursor:
                    break
                params = {"cursor": cursor}
            stated = None if None in ttls else min(t or 0 for t in ttls)
            self.freshness.fetched(server, kind, stated, announced=announces(self._supervisors[server], kind))
            return self._valid_tools(server, items) if kind is TOOLS else items
        except UpstreamError as exc:
            log.warning("%s; left out of %s", exc, kind.list_method)
            self._down[server] = exc
            return None

    def _valid_tools(self, server: str, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Leave out tools whose x-mcp-header annotations are invalid, as a 2026-07-28 client
        must: one bad definition does not take the others with it."""
        before = self._checked_tools.get(server)
        if before is not None and before[0] == tools:
            return before[1]
        valid = []
        for tool in tools:
            problem = annotation_problem(tool.get("inputSchema"))
            if problem is None:
                valid.append(tool)
            else:
                message = f"[{server}] tool {tool.get('name')!r} left out: {problem}"
                self._report_once([message], logging.WARNING, "%s")
        self._checked_tools[server] = (tools, valid)
        return valid

    def invalidate(self, server: str, methods: Sequence[str] | None = None) -> None:
        """``server`` said its lists changed (or restarted): the next list asks it again."""
        if server in self._servers:
            self.freshness.invalidate(server, methods)

    def down_owner(self, name: str, pinned: bool) -> UpstreamError | None:
        """Why the server that ``name`` would belong to is down, if it is: a call to a tool of a
        server that cannot start gets that reason, not a misleading "unknown tool"."""
        for server in self._servers:
            error = self._down.get(server)
            prefix = self._namespace.expose(server, "")
            if error is not None and (pinned or (prefix and name.startswith(prefix))):
                return error
        return None

    async def owner(self, kind: Kind, key: str, session: str | None) -> Owner | None:
        """Who owns ``key``, refreshing once if nobody does; a refused key raises."""
        catalog = self.catalogs[kind]
        owner = catalog.owner(key)
        if owner is None:
            await self.refresh(kind, session)
            owner = catalog.owner(key)
        refusal = catalog.refusal(key) if owner is None else None
        if refusal is not None:
            raise PolicyError(refusal, data={"name": key})
        return owner

    async def resource_owner(self, uri: str, session: str | None) -> Owner | None:
        resources, templates = self.catalogs[RESOURCES], self.catalogs[TEMPLATES]
        owner = resources.owner(uri) or templates.match_template(uri)
        if owner is None:
            await asyncio.gather(self.refresh(RESOURCES, session), self.refresh(TEMPLATES, session))
            owner = resources.owner(uri) or templates.match_template(uri)
        refusal = resources.refusal(uri) if owner is None else None
        if refusal is not None:
            raise PolicyError(refusal, data={"uri": uri})
        return owner
