"""What the layers outside the router ask of it: where a name of the endpoint leads.

Policies, rate limits, plugins and metrics need only this of a router, so they take this
Protocol, not :class:`~upstream.routing.router.Router` itself: the router answers it, and so
does a view that owns names of its own besides (the gateway tools', gateway/gateway_tools.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from middleware.protocol import Scope
from upstream.routing.catalog import Owner


class NameOwners(Protocol):
    """The servers of an endpoint, and who owns each name it lists or is called with."""

    @property
    def servers(self) -> Sequence[str]:
        """The endpoint's servers, in configuration order."""
        ...

    @property
    def pinned(self) -> str | None:
        """The one server of a ``/servers/NAME/mcp`` endpoint; None for the aggregate one."""
        ...

    def listed_owner(self, list_method: str, key: str) -> Owner | None:
        """Who owns ``key`` in the catalog ``list_method`` answered from (no I/O)."""
        ...

    async def owner_of(
        self, scope: Scope, list_method: str, key: str
    ) -> tuple[Owner, dict[str, Any] | None] | None:
        """Who owns ``key`` as a call would find it, and its exposed definition."""
        ...

    async def resource_owner(self, scope: Scope, uri: str) -> Owner | None:
        """Where a read of ``uri`` would go; None when nowhere, or when it would be refused."""
        ...
