"""Policies from settings, placed in the MCP stack, with the router telling where names lead.

With no ``[[policies]]`` and no project binding the stack is returned unchanged: nothing is paid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Final

from gateway.owners import OwnerLookup
from gateway.settings import Settings, SettingsError
from gateway.settings.policy import PolicyRule
from middleware.authz.authorize import Authorize, Owners
from middleware.authz.expressions import compile_condition
from middleware.authz.policy import KINDS, Kind, Policy, Rule
from middleware.authz.policy_globs import Matcher, compile_globs
from middleware.protocol import MCPApp, Scope
from upstream.routing.catalog import Namespace
from upstream.routing.owners import NameOwners

log = logging.getLogger("portcullis.policy")

LIST_OF: Final[dict[Kind, str]] = {
    "tool": "tools/list",
    "prompt": "prompts/list",
    "resource": "resources/list",
}
TARGET_LISTS: Final[dict[Kind, str]] = {"tool": "tools", "prompt": "prompts", "resource": "resources"}


def with_policies(
    app: MCPApp,
    settings: Settings,
    router: NameOwners,
    *,
    project_servers: Callable[[str], Sequence[str] | None] | None = None,
) -> MCPApp:
    """``app`` behind the policy rules and the project binding (``project_servers``: the server
    globs a project is bound to, from tenancy), or ``app`` itself when there are neither."""
    if not settings.policies and project_servers is None:
        return app
    rules = compiled_rules(settings.policies)
    if router.pinned is None:  # once, not once per endpoint
        _warn_unmatched_servers(settings)
    namespace = Namespace(settings.prefixes, settings.routing.separator)
    return Authorize(
        app, Policy(rules), owners=RouterOwners(router, namespace), project_servers=project_servers
    )


def compiled_rules(policies: Sequence[PolicyRule]) -> list[Rule]:
    """The settings' rules, compiled (they were validated when the settings loaded)."""
    seen: dict[str, int] = {}
    problems = []
    for index, rule in enumerate(policies):
        if rule.name in seen:
            problems.append(
                f"policies[{index}].name: rule {rule.name!r} is also policies[{seen[rule.name]}]; "
                "give each rule its own name (refusals and the audit log name them)"
            )
        seen.setdefault(rule.name, index)
    if problems:
        raise SettingsError("settings", problems)
    return [_compiled(rule) for rule in policies]


def _compiled(rule: PolicyRule) -> Rule:
    lists: dict[Kind, list[str] | None] = {kind: getattr(rule, TARGET_LISTS[kind]) for kind in KINDS}
    whole = all(patterns is None for patterns in lists.values())
    everything = compile_globs(["**"])
    targets: dict[Kind, Matcher] = {}
    for kind, patterns in lists.items():
        if whole:
            targets[kind] = everything
        elif patterns is not None:
            targets[kind] = compile_globs(patterns)
    return Rule(
        name=rule.name,
        effect=rule.effect,
        targets=targets,
        principals=_globs(rule.principals),
        projects=_globs(rule.projects),
        roles=_globs(rule.roles),
        servers=_globs(rule.servers),
        condition=compile_condition(rule.when) if rule.when is not None else None,
        description=rule.description,
        whole_servers=whole,
    )


def _globs(patterns: list[str] | None) -> Matcher | None:
    return None if patterns is None else compile_globs(patterns)


def _warn_unmatched_servers(settings: Settings) -> None:
    """A server glob that matches no configured server is likely a typo: say so once."""
    for rule in settings.policies:
        for pattern in rule.servers or ():
            if not any(compile_globs([pattern])(name) for name in settings.servers):
                log.warning(
                    "policy rule %r: servers pattern %r matches no configured server", rule.name, pattern
                )


class RouterOwners(Owners):
    """Where names of the aggregate endpoint lead, from the router's catalogs.

    Lists read the catalog the router just answered from (no I/O, however long the page);
    calls ask the router as the call itself would, and a name nobody owns yet is read in the
    server's namespace (its prefix), so that a policy about that server still applies.
    """

    def __init__(self, router: NameOwners, namespace: Namespace) -> None:
        self.router = router
        self.owners = OwnerLookup(router)
        self.namespace = namespace

    def listed(self, scope: Scope, list_method: str, key: str) -> tuple[str, str] | None:
        owner = self.owners.listed(list_method, key)
        return None if owner is None else (owner.server, owner.name)

    async def called(self, scope: Scope, kind: Kind, key: str) -> tuple[str, str] | None:
        found = await self.owners.owner(scope, LIST_OF[kind], key)
        if found is not None:
            return found.server, found.name
        if kind == "resource":  # refused (a collision), or nobody's: the call itself says so
            return None
        spaces = self.namespace.spaces_of(key, self.router.servers)
        if len(spaces) == 1:
            server = spaces[0]
            return server, key.removeprefix(self.namespace.expose(server, ""))
        return None
