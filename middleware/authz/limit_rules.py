"""One rate-limit rule: which calls it counts and the key each call counts under.

Pure and cheap: selectors are compiled once (a set for literal names, one regular expression for
globs), and the key of the common rule (``per = "principal"``) is the principal's name itself,
so checking a call allocates nothing but the key of a composite rule.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from fnmatch import translate
from typing import Final

from middleware.protocol import Principal

PER_KINDS: Final = ("principal", "project", "server", "tool")
SEPARATOR: Final = "\x1f"
"""Between the parts of a composite key (never in a name a person writes)."""
UNKNOWN: Final = "?"
"""The server part of a key when the target's server is not known (an unknown tool)."""
LONGEST_PART: Final = 128
"""A target name longer than this (a client can send anything) is keyed by its digest."""

Matcher = Callable[[str], bool]


def matcher(globs: Iterable[str]) -> Matcher | None:
    """A test for names matching any of ``globs`` (case-sensitive), or None for "all"."""
    patterns = tuple(globs)
    if not patterns or "*" in patterns:
        return None
    if not any(ch in pattern for pattern in patterns for ch in "*?["):
        return frozenset(patterns).__contains__
    compiled = re.compile("|".join(translate(pattern) for pattern in patterns))
    return lambda name: compiled.match(name) is not None


class Limit:
    """A rule as the middleware uses it: ``rate`` in tokens per second, a bucket of ``burst``
    tokens, and/or at most ``max_concurrent`` calls in flight, per key."""

    __slots__ = (
        "_methods",
        "_principal_only",
        "_principals",
        "_projects",
        "_servers",
        "_tools",
        "burst",
        "max_concurrent",
        "max_keys",
        "methods",
        "name",
        "needs_target",
        "per",
        "rate",
    )

    def __init__(
        self,
        name: str,
        *,
        per: Iterable[str] = ("principal",),
        rate: float | None = None,
        burst: int | None = None,
        max_concurrent: int | None = None,
        methods: Iterable[str] = ("tools/call",),
        principals: Iterable[str] = (),
        projects: Iterable[str] = (),
        servers: Iterable[str] = (),
        tools: Iterable[str] = (),
        max_keys: int = 10_000,
    ) -> None:
        self.name = name
        self.per = tuple(per)
        if not self.per or any(kind not in PER_KINDS for kind in self.per):
            raise ValueError(f"per must list some of {', '.join(PER_KINDS)}, not {self.per!r}")
        if rate is None and max_concurrent is None:
            raise ValueError(f"rate limit {name!r} limits nothing: give it a rate or max_concurrent")
        self.rate = rate
        self.burst = burst if burst is not None else max(1, round(rate or 1))
        self.max_concurrent = max_concurrent
        self.max_keys = max_keys
        self.methods = tuple(methods)
        self._methods = matcher(self.methods)
        self._principals = matcher(principals)
        self._projects = matcher(projects)
        self._servers = matcher(servers)
        self._tools = matcher(tools)
        targeted = self._servers is not None or self._tools is not None
        self.needs_target = targeted or "server" in self.per or "tool" in self.per
        self._principal_only = self.per == ("principal",)

    def __repr__(self) -> str:
        return f"Limit({self.name!r})"

    def counts_method(self, method: str) -> bool:
        return self._methods is None or self._methods(method)

    def admits(self, principal: Principal) -> bool:
        """Does the rule apply to this caller (before the target is known)?"""
        if self._principals is not None and not self._principals(principal.name):
            return False
        project = principal.project
        if project is None:
            return self._projects is None and "project" not in self.per
        return self._projects is None or self._projects(project)

    def key(self, principal: Principal, server: str | None, target: str | None) -> str | None:
        """The key this call counts under, or None when the rule's target selectors miss it.
        Call :meth:`admits` first; ``server``/``target`` matter only when :attr:`needs_target`."""
        if self._principal_only and not self.needs_target:
            return principal.name
        if self._servers is not None and (server is None or not self._servers(server)):
            return None
        if self._tools is not None and (target is None or not self._tools(target)):
            return None
        parts = [self._part(kind, principal, server, target) for kind in self.per]
        return parts[0] if len(parts) == 1 else SEPARATOR.join(parts)

    @staticmethod
    def _part(kind: str, principal: Principal, server: str | None, target: str | None) -> str:
        if kind == "principal":
            return principal.name
        if kind == "project":
            return principal.project or ""  # admits() let no project-less caller through
        if kind == "server":
            return server or UNKNOWN
        name = target or ""
        if len(name) > LONGEST_PART:
            name = "sha256:" + hashlib.sha256(name.encode()).hexdigest()[:32]
        return f"{server or UNKNOWN}/{name}"
