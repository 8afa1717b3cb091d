"""Names the gateway exposes, and which server owns each.

Tools and prompts are namespaced per server (``prefix + separator + name``; a server whose
prefix is empty keeps its own names). Resources and resource templates keep their URIs and are
routed by them. Two servers may never expose the same key: the later one's entry is refused
with an error that names both, so a client never reaches the wrong server by accident.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from mcp.shared.uri_template import InvalidUriTemplate, UriTemplate

log = logging.getLogger("portcullis.router")


@dataclass(frozen=True, slots=True)
class Kind:
    """One listable kind of MCP object."""

    list_method: str
    result_key: str
    key_field: str
    renamed: bool
    capability: str


TOOLS: Final = Kind("tools/list", "tools", "name", True, "tools")
PROMPTS: Final = Kind("prompts/list", "prompts", "name", True, "prompts")
RESOURCES: Final = Kind("resources/list", "resources", "uri", False, "resources")
TEMPLATES: Final = Kind("resources/templates/list", "resourceTemplates", "uriTemplate", False, "resources")
KINDS: Final = (TOOLS, PROMPTS, RESOURCES, TEMPLATES)
KIND_BY_LIST_METHOD: Final = {kind.list_method: kind for kind in KINDS}


@dataclass(frozen=True, slots=True)
class Owner:
    server: str
    name: str
    """The key as the owning server knows it."""


class CollisionError(Exception):
    """Two servers expose the same name; raised at start, logged on a later refresh."""


@dataclass(frozen=True, slots=True)
class Namespace:
    prefixes: Mapping[str, str]
    separator: str

    def expose(self, server: str, name: str) -> str:
        prefix = self.prefixes.get(server, server)
        return f"{prefix}{self.separator}{name}" if prefix else name


class Catalog:
    """The exposed keys of one kind across the servers of one endpoint."""

    def __init__(self, kind: Kind, namespace: Namespace, servers: Sequence[str]) -> None:
        self.kind = kind
        self._namespace = namespace
        self._order = list(servers)
        self._items: dict[str, list[dict[str, Any]]] = {}
        self._index: dict[str, Owner] = {}
        self._by_key: dict[str, dict[str, Any]] = {}
        self._templates: list[tuple[UriTemplate, Owner]] = []

    def owner(self, key: str) -> Owner | None:
        return self._index.get(key)

    def item(self, key: str) -> dict[str, Any] | None:
        """The exposed entry (tool, prompt...) of ``key``, as listed."""
        return self._by_key.get(key)

    def match_template(self, uri: str) -> Owner | None:
        for template, owner in self._templates:
            if template.match(uri) is not None:
                return owner
        return None

    def merged(self) -> list[dict[str, Any]]:
        return [item for server in self._order for item in self._items.get(server, ())]

    def replace(self, server: str, items: Sequence[Mapping[str, Any]]) -> list[str]:
        """Install ``server``'s fresh list; returns the collision messages (entries refused)."""
        kind = self.kind
        for key in [k for k, o in self._index.items() if o.server == server]:
            del self._index[key]
        exposed_items: list[dict[str, Any]] = []
        collisions: list[str] = []
        for item in items:
            original = item.get(kind.key_field)
            if not isinstance(original, str):
                continue
            key = self._namespace.expose(server, original) if kind.renamed else original
            holder = self._index.get(key)
            if holder is not None:
                fix = (
                    f"give one of them another prefix ([servers.{server}] prefix = ...)"
                    if kind.renamed
                    else f"the one of {server!r} stays reachable at /servers/{server}/mcp"
                )
                collisions.append(
                    f"{kind.result_key[:-1]} {key!r} of server {server!r} collides with the one "
                    f"of server {holder.server!r}; {fix}"
                )
                continue
            self._index[key] = Owner(server, original)
            exposed_items.append({**item, kind.key_field: key} if kind.renamed else dict(item))
        self._items[server] = exposed_items
        self._by_key = {item[kind.key_field]: item for items_of in self._items.values() for item in items_of}
        if kind is TEMPLATES:
            self._rebuild_templates()
        return collisions

    def _rebuild_templates(self) -> None:
        templates: list[tuple[UriTemplate, Owner]] = []
        for key, owner in self._index.items():
            try:
                templates.append((UriTemplate.parse(key), owner))
            except InvalidUriTemplate:
                log.warning("[%s] ignored invalid resource template %r", owner.server, key)
        self._templates = templates
