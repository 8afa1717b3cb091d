"""The answer cache of the MCP tier: ``resources/read``, and results of read-only tools.

It sits below policy, rate limits and plugins, so every hit is still authorized, counted and
screened as a call would be; what it keeps is the upstream's answer. An answer is shared
between callers only when its server said ``cacheScope: "public"`` and keeps one session for
every caller; anything else is kept per principal. A ``ttlMs`` of the server wins over the
configured lifetime, 0 meaning "do not keep". Errors, ``isError`` results, tasks and answers
that ask the client for input are never kept, nor are retries that carry input (MRTR).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from middleware.cache.store import CacheCounts, ResultStore, read_group, tools_group
from middleware.protocol import (
    RESPONSE,
    TARGET_NAME,
    TARGET_SERVER,
    VARIES_BY_PRINCIPAL,
    Event,
    MCPApp,
    Principal,
    Receive,
    Scope,
    Send,
    is_modern,
    response_event,
    result_message,
    traced_step,
)

log = logging.getLogger("portcullis.cache")

UNCACHEABLE_PARAMS: Final = ("task", "inputResponses", "requestState")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a call goes, as the router resolves it."""

    server: str
    name: str
    """The tool name or URI as the server knows it."""
    shared: bool
    """One upstream session serves every caller (answers may be shared if the server says so)."""
    definition: Mapping[str, Any] | None = None


Resolve = Callable[[Scope, str, str], Awaitable[Target | None]]
"""``(scope, list method, key)`` -> the target of a tool (``tools/list``) or URI (``resources/list``)."""


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """What to cache and for how long (seconds) when the server states no ``ttlMs``."""

    reads: bool = True
    read_ttl: float = 0.0
    tool_results: bool = False
    tool_result_ttl: float = 60.0
    max_ttl: float = 3600.0
    max_entry_bytes: int = 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Plan:
    group: str
    digest: str
    ttl: float
    target: Target


def read_only(definition: Mapping[str, Any] | None) -> bool:
    """Does the tool say that calling it changes nothing and gives the same answer again?"""
    annotations = (definition or {}).get("annotations")
    if not isinstance(annotations, dict):
        return False
    return annotations.get("readOnlyHint") is True and annotations.get("idempotentHint") is True


def _principal_field(digest: str, principal: Principal) -> str:
    return f"{digest}|p|{principal.project or ''}|{principal.name}"


class ResultCache:
    def __init__(
        self,
        app: MCPApp,
        *,
        store: ResultStore,
        resolve: Resolve,
        lifetimes: Lifetimes,
        counts: CacheCounts | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self._resolve = resolve
        self._lifetimes = lifetimes
        self.counts = counts or CacheCounts()
        self._wanted = {"resources/read": lifetimes.reads, "tools/call": lifetimes.tool_results}
        """The methods whose answers are kept: any other passes for one dict lookup."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if scope["type"] != "mcp" or not self._wanted.get(method):
            await self.app(scope, receive, send)
            return
        plan = await self._plan(scope)
        if plan is None:
            await self.app(scope, receive, send)
            return
        public, private = f"{plan.digest}|public", _principal_field(plan.digest, scope["principal"])
        hit = await self.store.get(plan.group, (public, private))
        if hit is not None:
            self.counts.count(self.counts.hits, method)
            state = scope["state"]  # as the router would have: audit and metrics name the target
            state[TARGET_SERVER], state[TARGET_NAME] = plan.target.server, plan.target.name
            traced_step("cache", {"portcullis.cache.outcome": "hit"})  # the upstream was not asked
            await send(response_event(result_message(scope["id"], self._served(scope, *hit))))
            return
        self.counts.count(self.counts.misses, method)
        kept: list[Mapping[str, Any]] = []

        async def capture(event: Event) -> None:
            if event["type"] == RESPONSE and isinstance(result := event["message"].get("result"), dict):
                kept.append(result)
            await send(event)

        await self.app(scope, receive, capture)
        if kept:
            await self._keep(method, plan, kept[0], public, private)

    async def _plan(self, scope: Scope) -> _Plan | None:
        """Where the answer of this call would be kept; None when it is not to be kept."""
        params, lifetimes = scope["params"], self._lifetimes
        if any(name in params for name in UNCACHEABLE_PARAMS):
            return None
        modern = is_modern(scope["protocol_version"])
        if scope["method"] == "resources/read":
            uri = params.get("uri")
            if not isinstance(uri, str):
                return None
            target = await self._resolve(scope, "resources/list", uri)
            if target is None or not target.shared:
                return None
            return _Plan(read_group(target.server, uri), _digest(modern, uri), lifetimes.read_ttl, target)
        name = params.get("name")
        if not isinstance(name, str):
            return None
        target = await self._resolve(scope, "tools/list", name)
        if target is None or not target.shared or not read_only(target.definition):
            return None
        digest = _digest(modern, target.name, params.get("arguments"))
        return _Plan(tools_group(target.server), digest, lifetimes.tool_result_ttl, target)

    async def _keep(
        self, method: str, plan: _Plan, result: Mapping[str, Any], public: str, private: str
    ) -> None:
        if result.get("isError") or result.get("resultType") not in (None, "complete") or "task" in result:
            return
        ttl = _stated_ttl(result, plan.ttl)
        ttl = min(ttl, self._lifetimes.max_ttl)
        if ttl <= 0:
            return
        value = orjson.dumps(result)
        if len(value) > self._lifetimes.max_entry_bytes:
            return
        field = public if plan.target.shared and result.get("cacheScope") == "public" else private
        await self.store.put(plan.group, field, value, ttl)
        self.counts.count(self.counts.stores, method)

    @staticmethod
    def _served(scope: Scope, value: bytes, fresh_for: float) -> dict[str, Any]:
        """A kept answer, its hints made true for this caller and this moment."""
        result: dict[str, Any] = orjson.loads(value)
        if "ttlMs" in result:
            result["ttlMs"] = max(0, min(int(fresh_for * 1000), result["ttlMs"]))
        if "cacheScope" in result and scope["state"].get(VARIES_BY_PRINCIPAL):
            result["cacheScope"] = "private"
        return result


def _stated_ttl(result: Mapping[str, Any], default: float) -> float:
    ttl = result.get("ttlMs")
    if isinstance(ttl, int) and not isinstance(ttl, bool):
        return max(ttl, 0) / 1000
    return default


def _digest(modern: bool, *parts: Any) -> str:
    """The cache key of one call: the era (its answers differ in shape), name and arguments."""
    encoded = orjson.dumps([modern, *parts], option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()
