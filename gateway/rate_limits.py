"""Rate limits and concurrency caps from settings: the rules, and the one store every endpoint
of this process counts in (in memory, or on Redis when ``[redis] url`` is set)."""

from __future__ import annotations

from gateway.owners import OwnerLookup
from gateway.settings import Settings
from gateway.settings.rate_limits import RateLimitSettings
from gateway.state.redis_limits import RedisLimits
from middleware.authz.limit_rules import Limit
from middleware.authz.limit_store import LimitStore, LocalLimits
from middleware.authz.rate_limits import RateLimits, Resolve
from middleware.protocol import MCPApp, Scope
from upstream.routing.owners import NameOwners


def limit_of(rule: RateLimitSettings) -> Limit:
    return Limit(
        rule.name,
        per=rule.keyed_by,
        rate=rule.per_second,
        burst=rule.bucket_size if rule.rate is not None else None,
        max_concurrent=rule.max_concurrent,
        methods=rule.methods,
        principals=rule.principals,
        projects=rule.projects,
        servers=rule.servers,
        tools=rule.tools,
        max_keys=rule.max_keys,
    )


def owner_resolver(router: NameOwners) -> Resolve:
    """What a prefixed name of the aggregate endpoint stands for, as the router knows it."""

    owners = OwnerLookup(router)

    async def resolve(scope: Scope, list_method: str, name: str) -> tuple[str, str] | None:
        found = await owners.owner(scope, list_method, name)
        return None if found is None else (found.server, found.name)

    return resolve


class RateLimiting:
    """Built once per gateway: the endpoints share the counts, so a limit counts the calls of
    a principal to ``/mcp`` and to ``/servers/NAME/mcp`` together."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = [limit_of(rule) for rule in settings.rate_limits]
        self.store: LimitStore | None = None
        if self.limits:
            url = settings.redis.connect_url
            self.store = RedisLimits(url, prefix=settings.redis.prefix) if url else LocalLimits()

    def wrap(self, app: MCPApp, router: NameOwners | None = None) -> MCPApp:
        """``app`` behind the limits; ``app`` itself when none is configured (it costs nothing)."""
        if self.store is None:
            return app
        resolve = owner_resolver(router) if router is not None else None
        return RateLimits(app, limits=self.limits, store=self.store, resolve=resolve)

    async def start(self) -> None:
        if self.store is not None:
            await self.store.start()

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()
