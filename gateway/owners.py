"""Where a name of the aggregate endpoint leads, as the router knows it: the one adapter that
policies, rate limits, plugins and the answer cache ask before a call, so that they all agree
with the call itself (each turns the answer into its own shape)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from middleware.protocol import Scope
from upstream.routing.catalog import Owner
from upstream.routing.owners import NameOwners


@dataclass(frozen=True, slots=True)
class Found:
    """The server a name leads to, the name there, and its definition when listed."""

    server: str
    name: str
    definition: dict[str, Any] | None = None


class OwnerLookup:
    def __init__(self, router: NameOwners) -> None:
        self.router = router

    def listed(self, list_method: str, key: str) -> Owner | None:
        """From the catalog the router last answered ``list_method`` from (no I/O: for filters
        over a page, however long)."""
        return self.router.listed_owner(list_method, key)

    async def owner(self, scope: Scope, list_method: str, key: str) -> Found | None:
        """Who owns ``key`` of ``list_method``'s list, as the call would find it: a URI by its
        resource or its template (named by the URI itself: a URI is the same everywhere), any
        other name in its catalog, listed once more on a miss. None when nobody does, or when
        the call would be refused (a collision: the call itself says so)."""
        if list_method == "resources/list":
            owner = await self.router.resource_owner(scope, key)
            return None if owner is None else Found(owner.server, key)
        found = await self.router.owner_of(scope, list_method, key)
        return None if found is None else Found(found[0].server, found[0].name, found[1])
