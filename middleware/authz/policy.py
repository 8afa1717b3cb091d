"""Policy rules and their decision: may this caller see, or call, this tool, prompt or resource?

The semantics (docs/policies.md says the same for operators):

- A rule applies to a caller when every subject it names matches (``principals``, ``projects``,
  ``roles``; one match within a list is enough); a rule naming none applies to everyone.
- It covers a target when ``servers`` (if named) matches the target's server and, for the kind
  of the target, its list (``tools``, ``prompts``, ``resources``) matches the name as the server
  knows it (a resource by URI). A rule naming none of the three lists covers every kind: whole
  servers. ``when`` narrows it to the calls whose condition holds.
- Deny rules win: a call covered by a deny rule is refused, whatever allows it.
- Allow rules opt a kind in: once any allow rule covers a kind, whatever of that kind no allow
  rule allows is refused (``default-deny``). A kind no allow rule covers stays open; with no
  rules at all everything is allowed, as without policies.
- Lists show what could be called: a deny rule hides only when its condition does not depend on
  the arguments (it is decided for the caller and target alone); an allow rule with such a
  condition shows the target (some arguments may be allowed).
- A condition that fails to evaluate (``<`` on a missing value) fails closed: a deny rule
  applies, an allow rule does not.

Decisions that do not depend on arguments are planned once per (caller, kind, server, name) in
a bounded cache, so a check is a dict lookup on the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from middleware.authz.expressions import Condition, Context, EvaluationError
from middleware.authz.policy_globs import Matcher
from middleware.protocol import Principal

Kind = Literal["tool", "prompt", "resource"]
KINDS: Final[tuple[Kind, ...]] = ("tool", "prompt", "resource")
DEFAULT_DENY: Final = "default-deny"
"""The name a refusal gives when no allow rule allows the target (no rule is named so)."""
CACHE_SIZE: Final = 8192
"""Plans kept per policy (caller, target); the cache is emptied when full."""

SubjectKey = tuple[str, str | None, frozenset[str]]


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule. ``None`` for a subject or ``servers`` means "any"; ``targets`` holds,
    per kind the rule covers, the matcher of names."""

    name: str
    effect: Literal["allow", "deny"]
    targets: Mapping[Kind, Matcher]
    principals: Matcher | None = None
    projects: Matcher | None = None
    roles: Matcher | None = None
    servers: Matcher | None = None
    condition: Condition | None = None
    description: str = ""
    whole_servers: bool = False
    """Names no tools, prompts or resources: it is about whole servers (every method)."""

    def applies_to(self, principal: Principal) -> bool:
        if self.principals is not None and not self.principals(principal.name):
            return False
        if self.projects is not None and (principal.project is None or not self.projects(principal.project)):
            return False
        return self.roles is None or any(self.roles(role) for role in principal.roles)

    def covers(self, kind: Kind, server: str | None, name: str) -> bool:
        """Is the target in this rule's reach? An unknown server (None) is in every deny
        rule's reach and no allow rule's: not knowing never opens anything."""
        names = self.targets.get(kind)
        if names is None or not names(name):
            return False
        if self.servers is None:
            return True
        return self.effect == "deny" if server is None else self.servers(server)


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a request is refused: the rule that refused it, in words for the caller and the log."""

    rule: str
    reason: str
    description: str = ""

    def message(self, kind: str, name: str, server: str | None) -> str:
        where = f" of server {server!r}" if server else ""
        said = f" ({self.description})" if self.description else ""
        return f"denied by policy rule {self.rule!r}: {kind} {name!r}{where} {self.reason}{said}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The decision for one caller and target, what arguments can still change of it."""

    denied: Denial | None = None
    """Refused whatever the arguments."""
    denies: tuple[Rule, ...] = ()
    """Deny rules whose condition reads the arguments."""
    allowed: bool = False
    """Allowed whatever the arguments (unless a deny rule above applies)."""
    allows: tuple[Rule, ...] = ()
    """Allow rules whose condition reads the arguments."""

    @property
    def visible(self) -> bool:
        return self.denied is None and (self.allowed or bool(self.allows))


MATCHED: Final = "is denied to this caller"
DENIED_IF: Final = "is denied to this caller with these arguments"
UNEVALUATED: Final = "is denied: the rule's condition could not be evaluated on these arguments"
NOT_ALLOWED: Final = "is not allowed by any policy rule for this caller"


@dataclass
class Policy:
    """The rules in settings order, and the caches that make checking them cheap."""

    rules: Sequence[Rule]
    cache_size: int = CACHE_SIZE
    opted_in: frozenset[Kind] = field(init=False)
    _subjects: dict[SubjectKey, tuple[Rule, ...]] = field(init=False, default_factory=dict)
    _plans: dict[tuple[Any, ...], Plan] = field(init=False, default_factory=dict)
    _reads_attributes: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.opted_in = frozenset(k for rule in self.rules if rule.effect == "allow" for k in rule.targets)
        self._reads_attributes = any(
            r.condition is not None and r.condition.uses_attributes for r in self.rules
        )

    def governs(self, kind: Kind) -> bool:
        """Does any rule cover this kind? (If none does, there is nothing to check.)"""
        return any(kind in rule.targets for rule in self.rules)

    def check(
        self, principal: Principal, kind: Kind, server: str | None, name: str, args: Any
    ) -> Denial | None:
        """May ``principal`` call this target with these arguments? None when it may."""
        plan = self.plan(principal, kind, server, name)
        if plan.denied is not None:
            return plan.denied
        if plan.allowed and not plan.denies:
            return None
        context = _context(principal, kind, server, name, args if isinstance(args, dict) else {})
        for rule in plan.denies:
            denial = _deny_test(rule, context)
            if denial is not None:
                return denial
        if plan.allowed or any(_allow_test(rule, context) for rule in plan.allows):
            return None
        return Denial(DEFAULT_DENY, NOT_ALLOWED)

    def visible(self, principal: Principal, kind: Kind, server: str | None, name: str) -> bool:
        """May ``principal`` see this target in a list?"""
        return self.plan(principal, kind, server, name).visible

    def plan(self, principal: Principal, kind: Kind, server: str | None, name: str) -> Plan:
        key: tuple[Any, ...] = (principal.name, principal.project, principal.roles, kind, server, name)
        if self._reads_attributes:  # the same name may come with other attributes (another token)
            key += (frozenset(principal.attributes.items()),)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._planned(principal, kind, server, name)
            if len(self._plans) >= self.cache_size:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _planned(self, principal: Principal, kind: Kind, server: str | None, name: str) -> Plan:
        """Decide what the caller and target decide; keep what depends on the arguments."""
        context = _context(principal, kind, server, name, None)
        denies: list[Rule] = []
        allows: list[Rule] = []
        allowed = kind not in self.opted_in
        for rule in self.subject_rules(principal):
            if not rule.covers(kind, server, name):
                continue
            condition = rule.condition
            if condition is not None and condition.uses_args:
                (denies if rule.effect == "deny" else allows).append(rule)
            elif rule.effect == "deny":
                denial = _deny_test(rule, context)
                if denial is not None:
                    return Plan(denied=denial)
            elif _allow_test(rule, context):
                allowed = True
        if not (allowed or allows or denies):
            return Plan(denied=Denial(DEFAULT_DENY, NOT_ALLOWED))
        return Plan(denies=tuple(denies), allowed=allowed, allows=() if allowed else tuple(allows))

    def server_denial(self, principal: Principal, server: str) -> Denial | None:
        """Is the whole server denied to this caller (a deny rule naming no tools, prompts or
        resources, whose condition does not read arguments)? For methods that name no target."""
        context = _context(principal, "tool", server, "", None)
        for rule in self.subject_rules(principal):
            if rule.effect != "deny" or not rule.whole_servers:
                continue
            if rule.servers is not None and not rule.servers(server):
                continue
            if rule.condition is not None and rule.condition.uses_args:
                continue
            denial = _deny_test(rule, context)
            if denial is not None:
                return denial
        return None

    @property
    def denies_servers(self) -> bool:
        """Can :meth:`server_denial` ever deny? (If not, nobody asks it.)"""
        return any(rule.effect == "deny" and rule.whole_servers for rule in self.rules)

    def subject_rules(self, principal: Principal) -> tuple[Rule, ...]:
        """The rules that apply to this caller, in order (cached per caller)."""
        key = (principal.name, principal.project, principal.roles)
        rules = self._subjects.get(key)
        if rules is None:
            rules = tuple(rule for rule in self.rules if rule.applies_to(principal))
            if len(self._subjects) >= self.cache_size:
                self._subjects.clear()
            self._subjects[key] = rules
        return rules


def _context(principal: Principal, kind: Kind, server: str | None, name: str, args: Any) -> Context:
    return Context(
        args=args,
        principal=principal.name,
        project=principal.project,
        roles=principal.roles,
        attributes=principal.attributes,
        server=server,
        kind=kind,
        name=name,
    )


def _deny_test(rule: Rule, context: Context) -> Denial | None:
    """The denial of a deny rule that covers the target, if its condition (if any) holds."""
    condition = rule.condition
    if condition is None:
        return Denial(rule.name, MATCHED, rule.description)
    try:
        holds = condition(context)
    except EvaluationError:
        return Denial(rule.name, UNEVALUATED, rule.description)
    return (
        Denial(rule.name, DENIED_IF if condition.uses_args else MATCHED, rule.description) if holds else None
    )


def _allow_test(rule: Rule, context: Context) -> bool:
    condition = rule.condition
    if condition is None:
        return True
    try:
        return condition(context)
    except EvaluationError:
        return False
