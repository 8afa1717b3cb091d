"""Names the gateway exposes, and which server owns each.

Tools and prompts are namespaced per server (``prefix + separator + name``; a server whose
prefix is empty keeps its own names). Resources and resource templates keep their URIs and are
routed by them. Two servers may never expose the same key, nor may a server without a prefix
expose a name inside another server's namespace: such a key is refused for all of them, with an
error that names both, so a client never reaches the wrong server by accident.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from mcp.shared.uri_template import InvalidUriTemplate, UriTemplate

from middleware.protocol import RESOURCE_NOT_FOUND, ClientError

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


@dataclass(frozen=True, slots=True)
class Served:
    """One entry of a server's list, as the admin API shows it."""

    key: str
    """The key clients see (prefixed, for tools and prompts)."""
    item: Mapping[str, Any]
    """The entry as the server sent it."""
    refused: str | None
    """Why no client sees it here, when its key collided with another server's (None: it is this
    server's)."""


class ResourceNotFound(ClientError):
    """No server of the endpoint offers the URI (the legacy era's own code for it)."""

    code = RESOURCE_NOT_FOUND

    def __init__(self, message: str, uri: object) -> None:
        super().__init__(message, data={"uri": uri})


class CollisionError(Exception):
    """Two servers expose the same name; raised at start, logged on a later refresh."""


@dataclass(frozen=True, slots=True)
class Namespace:
    prefixes: Mapping[str, str]
    separator: str

    def expose(self, server: str, name: str) -> str:
        prefix = self.prefixes.get(server, server)
        return f"{prefix}{self.separator}{name}" if prefix else name

    def spaces_of(self, key: str, servers: Sequence[str]) -> list[str]:
        """The servers whose namespace (``prefix + separator``) ``key`` falls in."""
        return [s for s in servers if (space := self.expose(s, "")) and key.startswith(space)]


class Catalog:
    """The exposed keys of one kind across the servers of one endpoint.

    The index is rebuilt from every server's last list whenever one changes, so which names are
    refused never depends on the order in which lists arrived: a key offered by two servers, or
    one that falls in another server's namespace, belongs to nobody.
    """

    def __init__(self, kind: Kind, namespace: Namespace, servers: Sequence[str]) -> None:
        self.kind = kind
        self._namespace = namespace
        self._order = list(servers)
        self._raw: dict[str, list[dict[str, Any]]] = {}
        """Each server's last list, as it sent it."""
        self._items: dict[str, list[dict[str, Any]]] = {}
        self._index: dict[str, Owner] = {}
        self._by_key: dict[str, dict[str, Any]] = {}
        self._refused: dict[str, str] = {}
        self._claims: dict[str, list[str]] = {}
        self._problems: dict[str, str] = {}
        """Every contested key and the ruling on it (logged once by the router)."""
        self._templates: list[tuple[UriTemplate, Owner]] = []
        self._merged: list[dict[str, Any]] = []
        self.version = 0
        """Bumped whenever the merged list changes; pagination cursors name it."""

    def owner(self, key: str) -> Owner | None:
        return self._index.get(key)

    def item(self, key: str) -> dict[str, Any] | None:
        """The exposed entry (tool, prompt...) of ``key``, as listed."""
        return self._by_key.get(key)

    def refusal(self, key: str) -> str | None:
        """Why ``key`` is refused, if it collided."""
        return self._refused.get(key)

    def served(self, server: str) -> list[Served] | None:
        """``server``'s last list as it sent it, each entry with the key clients see and why that
        key is refused if it collided; None before the server has answered a list."""
        raw = self._raw.get(server)
        if raw is None:
            return None
        kind, shown = self.kind, []
        for item in raw:
            original = item.get(kind.key_field)
            if isinstance(original, str):
                key = self._namespace.expose(server, original) if kind.renamed else original
                owner = self._index.get(key)
                mine = owner is not None and owner.server == server
                shown.append(Served(key, item, None if mine else self._problems.get(key, "")))
        return shown

    def match_template(self, uri: str) -> Owner | None:
        for template, owner in self._templates:
            if template.match(uri) is not None:
                return owner
        return None

    def merged(self) -> list[dict[str, Any]]:
        """The merged list of the current version (shared: do not change it)."""
        return self._merged

    def replace(self, server: str, items: Sequence[Mapping[str, Any]]) -> list[str]:
        """Install ``server``'s fresh list; returns the collision messages (entries refused)."""
        return self.install({server: items})

    def install(self, lists: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
        """Install fresh lists of several servers at once (one ruling over all of them);
        returns the collision messages that concern them."""
        changed = False
        for server, items in lists.items():
            if server not in self._raw or items != self._raw[server]:
                self._raw[server] = [dict(item) for item in items]
                changed = True
        if changed:
            self._rebuild()
        return [
            problem
            for key, problem in self._problems.items()
            if any(self._claimed_by(key, server) for server in lists)
        ]

    def _claimed_by(self, key: str, server: str) -> bool:
        return server in self._claims.get(key, ())

    def _rebuild(self) -> None:
        """Rebuild the index, the merged list and the refusals from every server's raw list."""
        kind = self.kind
        claims, exposed = self._claims_of_all()
        self._claims, self._problems = claims, {}
        refused: dict[str, str] = {}
        winners: dict[str, str] = {}
        for key, holders in claims.items():
            winner, problem = self._ruling(key, holders)
            if winner is not None:
                winners[key] = winner
            else:
                refused[key] = problem or ""
            if problem is not None:
                self._problems[key] = problem
        index: dict[str, Owner] = {}
        items: dict[str, list[dict[str, Any]]] = {}
        for server, entries in exposed.items():
            items[server] = []
            for key, original, item in entries:
                if winners.get(key) != server:
                    continue
                index[key] = Owner(server, original)
                items[server].append({**item, kind.key_field: key} if kind.renamed else item)
        self._refused, self._index, self._items = refused, index, items
        self._by_key = {item[kind.key_field]: item for listed in items.values() for item in listed}
        self._merged = [item for server in self._order for item in items.get(server, ())]
        self.version += 1
        if kind is TEMPLATES:
            self._rebuild_templates()

    def _claims_of_all(
        self,
    ) -> tuple[dict[str, list[str]], dict[str, list[tuple[str, str, dict[str, Any]]]]]:
        """Who claims each exposed key (in configuration order), and each server's entries as
        (exposed key, original name, item), a server's duplicates dropped."""
        kind, namespace = self.kind, self._namespace
        claims: dict[str, list[str]] = {}
        exposed: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        for server in self._order:
            entries = exposed[server] = []
            for item in self._raw.get(server, ()):
                original = item.get(kind.key_field)
                if not isinstance(original, str):
                    continue
                key = namespace.expose(server, original) if kind.renamed else original
                holders = claims.setdefault(key, [])
                if server not in holders:
                    holders.append(server)
                    entries.append((key, original, item))
        return claims, exposed

    def _ruling(self, key: str, holders: Sequence[str]) -> tuple[str | None, str | None]:
        """Who keeps ``key`` (None: nobody) and why the others may not have it (None: no
        conflict). A prefixed name is its namespace's; anything else contested is nobody's."""
        noun = self.kind.result_key[:-1]
        spaces = self._namespace.spaces_of(key, self._order) if self.kind.renamed else []
        if len(spaces) == 1 and holders != spaces:
            owner = spaces[0]
            intruders = [s for s in holders if s != owner]
            space = self._namespace.expose(owner, "")
            names = " and ".join(repr(s) for s in intruders)
            keeps = f"it stays {owner!r}'s" if owner in holders else "it is refused"
            return (owner if owner in holders else None), (
                f"{noun} {key!r} of server {names} falls in the namespace of server {owner!r} "
                f"({space}...), so {keeps}; give server {names} a prefix or rename it"
            )
        if len(holders) == 1 and len(spaces) <= 1:
            return holders[0], None
        names = " and ".join(repr(s) for s in holders)
        if len(spaces) > 1:
            why = f"falls in the namespaces of servers {' and '.join(repr(s) for s in spaces)}"
        else:
            why = f"is offered by servers {names}"
        fix = (
            "give them distinct prefixes ([servers.NAME] prefix = ...)"
            if self.kind.renamed
            else "each stays reachable at /servers/NAME/mcp"
        )
        return None, f"{noun} {key!r} {why}, so it is refused; {fix}"

    def _rebuild_templates(self) -> None:
        templates: list[tuple[UriTemplate, Owner]] = []
        for key, owner in self._index.items():
            try:
                templates.append((UriTemplate.parse(key), owner))
            except InvalidUriTemplate:
                log.warning("[%s] ignored invalid resource template %r", owner.server, key)
        self._templates = templates
