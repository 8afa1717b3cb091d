"""Policies enforced on the MCP tier: lists show what the caller may use, calls are refused.

``tools/list``, ``prompts/list``, ``resources/list`` and ``resources/templates/list`` answers
are filtered item by item (wrapping ``send``, one page at a time) and marked as depending on the
caller, so no cache shares them (``cacheScope: "private"`` for 2026-07-28 clients).
``tools/call``, ``prompts/get``, ``resources/read``, ``resources/subscribe`` and
``completion/complete`` are refused when the caller may not use their target: a hidden tool is
refused by name exactly as a listed one the caller may not call, with the rule that refused it.
On an endpoint pinned to a server the caller may not use at all (the project binding, or a deny
rule about whole servers), every method but ``ping`` is refused.

A refusal is a JSON-RPC error with fault ``policy`` whose message names the rule, and one audit
line on the ``portcullis.audit`` logger (who, which rule, which method, server and target, and
why; never argument values). Methods the policy does not govern pass through untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Protocol

from middleware.authz.policy import DEFAULT_DENY, KINDS, NOT_ALLOWED, Denial, Kind, Policy
from middleware.authz.policy_audit import audit
from middleware.authz.policy_globs import Matcher, compile_globs
from middleware.protocol import (
    RESPONSE,
    SERVER_VISIBLE,
    TARGET_SERVER,
    VARIES_BY_PRINCIPAL,
    Event,
    MCPApp,
    PolicyError,
    Principal,
    Receive,
    Scope,
    Send,
    response_event,
)

log = logging.getLogger("portcullis.policy")

ProjectServers = Callable[[str], Sequence[str] | None]
"""The server globs a project is bound to (None: not bound, every server)."""

LISTS: Final[dict[str, tuple[Kind, str, str]]] = {
    "tools/list": ("tool", "tools", "name"),
    "prompts/list": ("prompt", "prompts", "name"),
    "resources/list": ("resource", "resources", "uri"),
    "resources/templates/list": ("resource", "resourceTemplates", "uriTemplate"),
}
"""list method → (kind, result key, the field naming each item)."""
CALLS: Final[dict[str, tuple[Kind, str, str | None]]] = {
    "tools/call": ("tool", "name", "arguments"),
    "prompts/get": ("prompt", "name", "arguments"),
    "resources/read": ("resource", "uri", None),
    "resources/subscribe": ("resource", "uri", None),
}
"""method → (kind, the param naming the target, the param holding the arguments)."""
ALWAYS: Final = frozenset({"ping"})
"""Methods answered even on an endpoint whose server the caller may not use."""
INTRODUCTIONS: Final = frozenset({"initialize", "server/discover"})
"""The gateway's own answers that carry the servers' instructions."""
PROJECT_CACHE: Final = 1024


class Owners(Protocol):
    """Given by the composition root: where a name of the aggregate endpoint leads, as
    ``(server, name there)``; None when nobody owns it (yet)."""

    def listed(self, scope: Scope, list_method: str, key: str) -> tuple[str, str] | None:
        """An item of a list answer (from what the router just listed, no I/O)."""

    async def called(self, scope: Scope, kind: Kind, key: str) -> tuple[str, str] | None:
        """The target of a call (it may list the upstreams once, as the call itself would)."""


class Authorize:
    """The policy middleware; see the module docstring."""

    def __init__(
        self,
        app: MCPApp,
        policy: Policy,
        *,
        owners: Owners | None = None,
        project_servers: ProjectServers | None = None,
    ) -> None:
        self.app = app
        self.policy = policy
        self.owners = owners
        self.project_servers = project_servers
        self._bindings: dict[tuple[str, ...], Matcher] = {}
        self._governed = frozenset(kind for kind in KINDS if policy.governs(kind))
        handlers: dict[str, Callable[[Scope, Receive, Send], Awaitable[None]]] = {}
        for method, (kind, _, _) in LISTS.items():
            if kind in self._governed or project_servers is not None:
                handlers[method] = self._list
        for method, (kind, _, _) in CALLS.items():
            if kind in self._governed or project_servers is not None:
                handlers[method] = self._call
        if handlers:
            handlers["completion/complete"] = self._complete
        self._handlers = handlers
        self._guards_servers = project_servers is not None or policy.denies_servers
        self._binding_only = not policy.rules
        """No rules: only the project binding, which a caller without a project escapes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["id"] is None or (self._binding_only and scope["principal"].project is None):
            await self.app(scope, receive, send)  # nothing here can concern it
            return
        handler = self._handlers.get(scope["method"])
        if handler is not None:
            await handler(scope, receive, send)
            return
        if scope["method"] in INTRODUCTIONS and self._guards_servers:
            self._introduce(scope)
        pinned = scope["server"]
        if pinned is not None and self._guards_servers and scope["method"] not in ALWAYS:
            denial = self._server_denial(scope["principal"], pinned)
            if denial is not None:
                await self._refuse(scope, send, denial, kind="server", name=pinned, server=None)
                return
        await self.app(scope, receive, send)

    # --- per method ---------------------------------------------------------------------------

    async def _list(self, scope: Scope, receive: Receive, send: Send) -> None:
        list_method = scope["method"]
        kind, result_key, item_key = LISTS[list_method]
        principal = scope["principal"]
        binding = self._binding(principal)
        if kind not in self._governed and binding is None:
            await self.app(scope, receive, send)
            return
        scope["state"][VARIES_BY_PRINCIPAL] = True

        def shows(item: Any) -> bool:
            key = item.get(item_key) if isinstance(item, dict) else None
            if not isinstance(key, str):
                return False
            owner = self._listed_owner(scope, list_method, key)
            if owner is None:
                return False  # nobody owns it any more (a stale page): nothing to vouch for it
            server, name = owner
            if binding is not None and not binding(server):
                return False
            return kind not in self._governed or self.policy.visible(principal, kind, server, name)

        async def filtered(event: Event) -> None:
            if event["type"] == RESPONSE:
                result = event["message"].get("result")
                items = result.get(result_key) if isinstance(result, dict) else None
                if isinstance(result, dict) and isinstance(items, list):
                    kept = {**result, result_key: [item for item in items if shows(item)]}
                    if "cacheScope" in kept:
                        kept["cacheScope"] = "private"
                    event = response_event({**event["message"], "result": kept})
            await send(event)

        await self.app(scope, receive, filtered)

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind, key_param, args_param = CALLS[scope["method"]]
        params = scope["params"]
        key = params.get(key_param)
        principal = scope["principal"]
        binding = self._binding(principal)
        if not isinstance(key, str) or (kind not in self._governed and binding is None):
            await self.app(scope, receive, send)  # no target to judge: the router refuses it
            return
        scope["state"][VARIES_BY_PRINCIPAL] = True  # a read allowed to this caller is not everyone's
        server, name = await self._called_owner(scope, kind, key)
        denial = _unbound(binding, server, principal)
        if denial is None and kind in self._governed:
            arguments = params.get(args_param) if args_param is not None else None
            denial = self.policy.check(principal, kind, server, name, arguments)
        if denial is not None:
            await self._refuse(scope, send, denial, kind=kind, name=name, server=server)
            return
        await self.app(scope, receive, send)

    async def _complete(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Completing an argument of a prompt or resource template the caller may not see
        would confirm that it exists: refused like the prompt or resource itself."""
        ref = scope["params"].get("ref")
        target: tuple[Kind, Any] | None = None
        if isinstance(ref, dict) and ref.get("type") == "ref/prompt":
            target = ("prompt", ref.get("name"))
        elif isinstance(ref, dict) and ref.get("type") == "ref/resource":
            target = ("resource", ref.get("uri"))
        if target is None or not isinstance(target[1], str):
            await self.app(scope, receive, send)
            return
        kind, key = target
        principal = scope["principal"]
        binding = self._binding(principal)
        if kind not in self._governed and binding is None:
            await self.app(scope, receive, send)
            return
        owner = self._listed_owner(scope, "resources/templates/list", key) if kind == "resource" else None
        server, name = owner or await self._called_owner(scope, kind, key)
        denial = _unbound(binding, server, principal)
        if denial is None and kind in self._governed:
            denial = self._visibility_denial(principal, kind, server, name)
        if denial is not None:
            await self._refuse(scope, send, denial, kind=kind, name=name, server=server)
            return
        await self.app(scope, receive, send)

    def _introduce(self, scope: Scope) -> None:
        """Instructions of servers the caller may not use stay out of its introduction."""
        principal = scope["principal"]

        def visible(server: str) -> bool:
            return self._server_denial(principal, server) is None

        scope["state"][SERVER_VISIBLE] = visible
        scope["state"][VARIES_BY_PRINCIPAL] = True

    # --- helpers ------------------------------------------------------------------------------

    def _visibility_denial(
        self, principal: Principal, kind: Kind, server: str | None, name: str
    ) -> Denial | None:
        plan = self.policy.plan(principal, kind, server, name)
        if plan.visible:
            return None
        return plan.denied or Denial(DEFAULT_DENY, NOT_ALLOWED)

    def _server_denial(self, principal: Principal, server: str) -> Denial | None:
        denial = _unbound(self._binding(principal), server, principal)
        return denial or self.policy.server_denial(principal, server)

    def _listed_owner(self, scope: Scope, list_method: str, key: str) -> tuple[str, str] | None:
        pinned = scope["server"]
        if pinned is not None:
            return pinned, key
        if self.owners is None:
            return None
        return self.owners.listed(scope, list_method, key)

    async def _called_owner(self, scope: Scope, kind: Kind, key: str) -> tuple[str | None, str]:
        """The server and the name there; the server is None when nobody is known to own it
        (the policy then reads it as any server for deny rules, as none for allow rules)."""
        pinned = scope["server"]
        if pinned is not None:
            return pinned, key
        owner = await self.owners.called(scope, kind, key) if self.owners is not None else None
        return owner if owner is not None else (None, key)

    def _binding(self, principal: Principal) -> Matcher | None:
        """The servers the caller's project is bound to; None when it is bound to none."""
        project = principal.project
        if self.project_servers is None or project is None:
            return None
        globs = self.project_servers(project)
        if globs is None:
            return None
        key = tuple(globs)
        matcher = self._bindings.get(key)
        if matcher is None:
            matcher = compile_globs(key)
            if len(self._bindings) >= PROJECT_CACHE:
                self._bindings.clear()
            self._bindings[key] = matcher
        return matcher

    async def _refuse(
        self, scope: Scope, send: Send, denial: Denial, *, kind: str, name: str, server: str | None
    ) -> None:
        audit(scope, denial, server=server, target=name)
        if server is not None:  # for the access log: the refusal is about this server
            scope["state"].setdefault(TARGET_SERVER, server)
        error = PolicyError(
            denial.message(kind, name, server), data={"rule": denial.rule, "kind": kind, "name": name}
        )
        await send(response_event(error.to_message(scope["id"])))


def _unbound(binding: Matcher | None, server: str | None, principal: Principal) -> Denial | None:
    """The project binding's refusal when ``server`` is outside it."""
    if binding is None or (server is not None and binding(server)):
        return None
    return Denial(f"project:{principal.project}", f"is outside the servers of project {principal.project!r}")
