"""Does a plugin apply to this call? The spec's conditions: any entry may match (OR), and within
one entry every field given must match (AND).

- ``server_ids``: the upstream server the call goes to.
- ``tenant_ids``: the caller's project.
- ``tools`` / ``prompts``: the name as the upstream knows it, or as the client called it (with
  the server prefix); both match.
- ``resources``: the URI, exactly or as a glob (``https://api.example.com/*``).
- ``user_patterns``: regular expressions, one must match the whole caller name.
- ``content_types``: the caller's ``Content-Type`` base type.
- ``agents``: cpex's agent hooks do not exist on an MCP gateway; a condition naming agents never matches.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from middleware.plugins.models import PluginCondition


@dataclass(frozen=True, slots=True)
class Target:
    """What a call is about, as conditions see it."""

    server: str | None = None
    tenant: str | None = None
    user: str | None = None
    kind: str | None = None
    """``tool``, ``prompt`` or ``resource``."""
    names: tuple[str, ...] = ()
    """The names it goes by: as the upstream knows it, as the client called it."""
    content_type: str | None = None
    definition: dict[str, Any] | None = field(default=None, compare=False)
    """The called tool's definition as listed, when known (plugins read it from the global
    context's ``metadata["definition"]``)."""


def matches(conditions: Sequence[PluginCondition], target: Target) -> bool:
    return not conditions or any(_one(condition, target) for condition in conditions)


def _one(condition: PluginCondition, target: Target) -> bool:
    checks = (
        condition.server_ids is None or target.server in condition.server_ids,
        condition.tenant_ids is None or target.tenant in condition.tenant_ids,
        condition.tools is None or _named(condition.tools, "tool", target),
        condition.prompts is None or _named(condition.prompts, "prompt", target),
        condition.resources is None or _resource(condition.resources, target),
        condition.agents is None,
        condition.user_patterns is None or _user(condition.user_patterns, target.user),
        condition.content_types is None or (target.content_type or "") in condition.content_types,
    )
    return all(checks)


def _named(names: set[str], kind: str, target: Target) -> bool:
    return target.kind == kind and any(name in names for name in target.names)


def _resource(patterns: set[str], target: Target) -> bool:
    if target.kind != "resource":
        return False
    return any(uri in patterns or any(fnmatch.fnmatchcase(uri, p) for p in patterns) for uri in target.names)


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _user(patterns: list[str], user: str | None) -> bool:
    return user is not None and any(_compiled(pattern).fullmatch(user) for pattern in patterns)
