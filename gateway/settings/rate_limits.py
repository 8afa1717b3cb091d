"""How often and how many at once: token buckets and concurrency caps, one ``[[rate_limits]]``
table per rule (docs/rate-limits.md)."""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from gateway.settings.base import _Strict, distinct_names

Per = Literal["principal", "project", "server", "tool"]
_PER_KINDS: Final = ("principal", "project", "server", "tool")
_PER_HELP: Final = ", ".join(f'"{kind}"' for kind in _PER_KINDS)
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

_RATE: Final = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")
_UNITS: Final = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE_HELP: Final = 'write it as COUNT/UNIT with UNIT s, min, h or day, e.g. "10/s", "600/min" or "5/10s"'


def parse_rate(text: str) -> tuple[int, float]:
    """``"600/min"`` → (600, 60.0): how many calls per how many seconds."""
    match = _RATE.match(text.lower())
    if match is None:
        raise ValueError(_RATE_HELP)
    word = match[3]
    unit = _UNITS.get(word) or _UNITS.get(word.removesuffix("s"))  # "mins", "hours"
    if unit is None:
        raise ValueError(_RATE_HELP)
    count, multiple = int(match[1]), int(match[2] or 1)
    if count < 1 or multiple < 1:
        raise ValueError(f"the count and the period must be at least 1; {_RATE_HELP}")
    return count, unit * multiple


class RateLimitSettings(_Strict):
    """One rule: which calls it counts (selectors), what it keys them by (``per``), and its
    token bucket (``rate``, ``burst``) and/or concurrency cap (``max_concurrent``)."""

    name: str = Field(description="shown to refused clients (error.data.limit) and part of the Redis keys")
    per: list[Per] = Field(
        ["principal"], description="what gets its own bucket and cap: one kind, or a list of them"
    )
    methods: list[str] = Field(["tools/call"], description="JSON-RPC methods counted (globs)")
    principals: list[str] = Field([], description="principal names it applies to (globs); all when empty")
    projects: list[str] = Field([], description="projects it applies to (globs); all when empty")
    servers: list[str] = Field([], description="target servers it applies to (globs); all when empty")
    tools: list[str] = Field([], description="targets (tool, prompt, URI) as their server names them")
    rate: str | None = Field(None, description='refill rate of the token bucket, e.g. "10/s", "600/min"')
    burst: int | None = Field(None, ge=1, description="bucket size; the COUNT of `rate` when unset")
    max_concurrent: int | None = Field(None, ge=1, description="calls in flight at once, per key")
    max_keys: int = Field(10_000, ge=1, description="buckets kept in memory before idle ones go")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "use 1-64 letters, digits, '_', '.' or '-' (it names the limit in errors and Redis keys)"
            )
        return value

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rate(value)
        return value

    @field_validator("per", mode="before")
    @classmethod
    def _per(cls, value: object) -> object:
        kinds = [value] if isinstance(value, str) else value
        if not isinstance(kinds, list) or not kinds or any(kind not in _PER_KINDS for kind in kinds):
            raise ValueError(f'must be one of {_PER_HELP}, or a list of them such as ["principal", "tool"]')
        if len(set(kinds)) != len(kinds):
            raise ValueError("name each kind once")
        return kinds

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError('name at least one method, e.g. ["tools/call"], or "*" for every request')
        if any(method.startswith("notifications/") for method in value):
            raise ValueError("notifications are never limited (nobody could be told); remove them")
        return value

    @model_validator(mode="after")
    def _limits_something(self) -> RateLimitSettings:
        if self.rate is None and self.max_concurrent is None:
            raise ValueError(
                f"rate limit {self.name!r} limits nothing: set `rate` (a token bucket, e.g. "
                '"10/s"), `max_concurrent` (calls at once), or both'
            )
        if self.burst is not None and self.rate is None:
            raise ValueError(f"rate limit {self.name!r}: `burst` sizes a token bucket; set `rate` too")
        return self

    @property
    def keyed_by(self) -> tuple[Per, ...]:
        return tuple(self.per)

    @property
    def per_second(self) -> float | None:
        """Tokens added per second, or None without a bucket."""
        if self.rate is None:
            return None
        count, seconds = parse_rate(self.rate)
        return count / seconds

    @property
    def bucket_size(self) -> int:
        """``burst``, else the COUNT of ``rate`` ("600/min" holds 600)."""
        if self.burst is not None:
            return self.burst
        return parse_rate(self.rate)[0] if self.rate is not None else 0


RateLimitRules = Annotated[list[RateLimitSettings], AfterValidator(distinct_names("[[rate_limits]]"))]
"""The ``[[rate_limits]]`` array: names are distinct (they key counts and name refusals)."""
