"""``[[policies]]``: who may see and call which servers, tools, prompts and resources.

Each rule is checked here, when the settings load, so ``portcullis check`` reports a bad glob or
condition with the rule's name and the fix; docs/policies.md explains the semantics.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from gateway.settings.base import _Strict, distinct_names
from middleware.authz.expressions import ExpressionError, compile_condition
from middleware.authz.policy import DEFAULT_DENY
from middleware.authz.policy_globs import GlobError, compile_globs

RULE_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PATTERN_LISTS: Final = ("principals", "projects", "roles", "servers", "tools", "prompts", "resources")
_EVERY: Final = {
    "principals": "every caller",
    "projects": "every project",
    "roles": "every role",
    "servers": "every server",
    "tools": "every tool",
    "prompts": "every prompt",
    "resources": "every resource",
}


class PolicyRule(_Strict):
    """One allow or deny rule over servers, tools, prompts and resources."""

    name: str = Field(description="names the rule in refusals and the audit log; unique")
    effect: Literal["allow", "deny"] = Field(description="deny rules win over allow rules")
    description: str = Field("", description="told to a refused caller after the rule's name")
    principals: list[str] | None = Field(None, description="principal name globs; absent: everyone")
    projects: list[str] | None = Field(None, description="project globs; absent: any project or none")
    roles: list[str] | None = Field(None, description="role globs (any one of the caller's); absent: any")
    servers: list[str] | None = Field(None, description="server globs; absent: every server")
    tools: list[str] | None = Field(None, description="tool name globs, as the server names them")
    prompts: list[str] | None = Field(None, description="prompt name globs, as the server names them")
    resources: list[str] | None = Field(None, description="resource URI (and template) globs")
    when: str | None = Field(None, description="a condition on the arguments and the caller")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not RULE_NAME.match(value):
            raise ValueError(
                "a rule name is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
            )
        if value == DEFAULT_DENY:
            raise ValueError(f"{DEFAULT_DENY!r} is what refusals say when no rule allows; pick another name")
        return value

    @field_validator(*PATTERN_LISTS)
    @classmethod
    def _patterns(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        rule, key = _rule_of(info), info.field_name or ""
        if not value:
            raise ValueError(
                f"{rule}: an empty list matches nothing; remove `{key}` to mean {_EVERY.get(key, 'all')}"
            )
        try:
            compile_globs(value)
        except GlobError as exc:
            raise ValueError(f"{rule}: {exc}") from None
        return value

    @field_validator("when")
    @classmethod
    def _condition(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        try:
            compile_condition(value)
        except ExpressionError as exc:
            raise ValueError(f"{_rule_of(info)}: `when` {exc} (see docs/policies.md)") from None
        return value


def _rule_of(info: ValidationInfo) -> str:
    name = info.data.get("name")
    return f"rule {name!r}" if isinstance(name, str) else "this rule"


PolicyRules = Annotated[list[PolicyRule], AfterValidator(distinct_names("[[policies]]"))]
