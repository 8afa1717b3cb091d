"""What every settings table shares."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
)

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def key_hash(value: str) -> str:
    """A key's SHA-256 as settings hold it: never the key itself, which this refuses."""
    if not SHA256_HEX.match(value):
        raise ValueError(
            "must be 64 lowercase hex characters (the SHA-256 of the key, never the key "
            "itself); run `portcullis keygen` to make a key and its hash"
        )
    return value


def redis_url(value: str | None) -> str | None:
    """A Redis URL in one of the forms the client opens, said plainly when it is not."""
    if value is not None and not re.match(r"^(redis|rediss|unix)://", value):
        raise ValueError("must be a redis://, rediss:// or unix:// URL, e.g. redis://127.0.0.1:6379/0")
    return value


class _Named(Protocol):
    @property
    def name(self) -> str: ...


NamedT = TypeVar("NamedT", bound=_Named)


def distinct_names(table: str) -> Callable[[list[NamedT]], list[NamedT]]:
    """A list validator for rules that refusals and logs name: two of one name could not be
    told apart."""

    def check(rules: list[NamedT]) -> list[NamedT]:
        seen: set[str] = set()
        for rule in rules:
            if rule.name in seen:
                raise ValueError(f"two rules are named {rule.name!r}; give each {table} a distinct name")
            seen.add(rule.name)
        return rules

    return check
