"""Tenancy declared as code: projects, their users and the users' API keys.

``[projects.NAME]`` binds a project to server-name globs; ``[users.NAME]`` puts a user in a
project with roles; ``[[users.NAME.keys]]`` holds the SHA-256 of each of the user's keys (never
a key). The checks that span tables (a user's project exists, no hash is declared twice) are in
:func:`tenancy_problems`, run by ``check`` and ``serve`` with the other settings problems.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from pydantic import Field, field_validator

from gateway.settings.base import _Strict, key_hash

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
"""Project, user and key names: no '/', which separates a user from a key name in key ids."""
NAME_RULE = "1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit"


class ProjectSettings(_Strict):
    """A project (tenant): the servers its users may reach."""

    servers: list[str] = Field(["*"], description="server names (globs) the project's users may reach")
    description: str = Field("", description="free text, shown by `portcullis projects show`")


class KeySettings(_Strict):
    """One API key of a user, by its hash; ``portcullis keygen`` makes a key and its hash."""

    name: str = Field(description="the key's name, unique for its user (its id is USER/NAME)")
    sha256: str = Field(description="hex SHA-256 of the key; `portcullis keygen` makes one")
    expires: datetime | None = Field(
        None, description="ISO date-time after which it is refused (UTC if no zone)"
    )
    disabled: bool = Field(False, description="refused until enabled again")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"a key name is {NAME_RULE}")
        return value

    @field_validator("sha256")
    @classmethod
    def _is_hash(cls, value: str) -> str:
        return key_hash(value)

    @field_validator("expires")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class UserSettings(_Strict):
    """A user: their project, roles and API keys."""

    project: str | None = Field(None, description="the user's project; none: reaches what policies allow")
    roles: list[str] = Field([], description="roles that policies match")
    email: str | None = Field(None, description="for the operator's records")
    disabled: bool = Field(False, description="every key of the user refused until enabled again")
    keys: list[KeySettings] = []


class _LegacyKey(Protocol):
    @property
    def principal(self) -> str: ...

    @property
    def sha256(self) -> str: ...


def tenancy_problems(
    projects: Mapping[str, ProjectSettings],
    users: Mapping[str, UserSettings],
    api_keys: Sequence[_LegacyKey] = (),
) -> list[str]:
    """What spans tables, as 'key: what is wrong; the fix' (empty when all is well)."""
    problems = [
        f"projects.{name}: a project name is {NAME_RULE}" for name in projects if not NAME.match(name)
    ]
    for name, user in users.items():
        if not NAME.match(name):
            problems.append(f"users.{name}: a user name is {NAME_RULE}")
        if user.project is not None and user.project not in projects:
            known = ", ".join(sorted(projects)) or "none declared yet"
            problems.append(
                f"users.{name}.project: unknown project {user.project!r}; declare "
                f"[projects.{user.project}] or name a declared one ({known})"
            )
        seen: set[str] = set()
        for index, key in enumerate(user.keys):
            if key.name in seen:
                problems.append(
                    f"users.{name}.keys[{index}].name: {key.name!r} is used twice; give each key its own name"
                )
            seen.add(key.name)
    return problems + _shared_hashes(users, api_keys)


def _shared_hashes(users: Mapping[str, UserSettings], api_keys: Sequence[_LegacyKey]) -> list[str]:
    """A hash declared twice would make one key two principals: refuse it."""
    first: dict[str, str] = {}
    problems = []
    declared = [(f"auth.api_keys[{i}]", key.sha256) for i, key in enumerate(api_keys)]
    declared += [(f"users.{n}.keys[{i}]", k.sha256) for n, u in users.items() for i, k in enumerate(u.keys)]
    for where, digest in declared:
        if digest in first:
            problems.append(
                f"{where}.sha256: the same hash as {first[digest]}; one key belongs to one user, "
                "so make a new key with `portcullis keygen`"
            )
        else:
            first[digest] = where
    return problems


def expiry(value: datetime | None) -> float | None:
    """A settings date-time as epoch seconds, the form the store and the hot path compare."""
    return value.timestamp() if value is not None else None
