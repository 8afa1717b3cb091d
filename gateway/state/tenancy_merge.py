"""Settings and store, merged into one directory of projects, users and keys.

Precedence (docs/tenancy.md): settings declare; the store adds what was made at run time;
on a name that both hold, the settings' declaration wins (and ``check`` says so); and a
restriction recorded in the store (disable, revoke, an earlier expiry after a rotation) applies
to a settings-declared user or key too, since taking access away must not need a redeploy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from gateway.settings import Settings
from gateway.settings.identity import expiry
from middleware.auth.keys import KeyEntry, KeyRecord, ProjectRecord, Restriction, Stored, UserRecord
from middleware.protocol import Principal

SETTINGS: Final = "settings"
STORE: Final = "store"
API_KEYS: Final = "auth.api_keys"
REFUSALS: Final = {
    "revoked": "the API key was revoked",
    "disabled": "the API key is disabled",
    "user unknown": "the API key's user no longer exists",
    "user disabled": "the API key's user is disabled",
    "project unknown": "the API key's project no longer exists",
}


def legacy_key_id(digest: str) -> str:
    """A stable id for an ``[[auth.api_keys]]`` key that does not reveal its hash."""
    return "api_key_" + hashlib.sha256(b"portcullis key id " + digest.encode()).hexdigest()[:10]


@dataclass(slots=True)
class Declared:
    """What settings declare, as records; ``implicit`` are the users that only an
    ``[[auth.api_keys]]`` principal names (users without a project)."""

    projects: dict[str, ProjectRecord] = field(default_factory=dict)
    users: dict[str, UserRecord] = field(default_factory=dict)
    keys: dict[str, KeyRecord] = field(default_factory=dict)
    implicit: dict[str, UserRecord] = field(default_factory=dict)


def declared(settings: Settings, key_hashes: Mapping[str, str] | None = None) -> Declared:
    """Settings as records; ``key_hashes`` (digest -> principal) replaces ``[auth] api_keys``
    when given (it also holds the local key a run without keys makes)."""
    found = Declared()
    for name, project in settings.projects.items():
        found.projects[name] = ProjectRecord(name, tuple(project.servers), project.description)
    for name, user in settings.users.items():
        found.users[name] = UserRecord(name, user.project, tuple(user.roles), user.email, user.disabled)
        for key in user.keys:
            ident = f"{name}/{key.name}"
            found.keys[ident] = KeyRecord(
                ident, name, key.name, key.sha256, expires=expiry(key.expires), disabled=key.disabled
            )
    if key_hashes is None:
        key_hashes = {key.sha256: key.principal for key in settings.auth.api_keys}
    for digest, principal in key_hashes.items():
        ident = legacy_key_id(digest)
        found.keys[ident] = KeyRecord(ident, principal, API_KEYS, digest)
        if principal not in found.users:
            found.implicit[principal] = UserRecord(principal)
    return found


@dataclass(slots=True)
class Directory:
    """Every project, user and key with where each comes from, and what does not add up."""

    projects: dict[str, ProjectRecord] = field(default_factory=dict)
    users: dict[str, UserRecord] = field(default_factory=dict)
    keys: dict[str, KeyRecord] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    """``project:NAME``, ``user:NAME``, ``key:ID`` -> settings, store or auth.api_keys."""
    problems: list[str] = field(default_factory=list)
    version: int = 0

    def source(self, kind: str, ident: str) -> str:
        return self.sources.get(f"{kind}:{ident}", STORE)

    def refusal(self, key: KeyRecord) -> str | None:
        """Why ``key`` opens nothing (expiry aside, which the clock decides), in a few words
        (:data:`REFUSALS` has the sentence a client is told), or None."""
        user = self.users.get(key.user)
        if key.revoked:
            return "revoked"
        if key.disabled:
            return "disabled"
        if user is None:
            return "user unknown"
        if user.disabled:
            return "user disabled"
        if user.project is not None and user.project not in self.projects:
            return "project unknown"
        return None

    def key_table(self) -> dict[str, KeyEntry]:
        """The hot path's table: key digest -> principal, expiry, refusal."""
        table: dict[str, KeyEntry] = {}
        for key in self.keys.values():
            user = self.users.get(key.user) or UserRecord(key.user)
            principal = Principal(
                user.name, {"key_id": key.id}, project=user.project, roles=frozenset(user.roles)
            )
            refusal = self.refusal(key)
            table[key.sha256] = KeyEntry(principal, key.expires, REFUSALS[refusal] if refusal else None)
        return table

    def project_servers(self) -> dict[str, tuple[str, ...]]:
        return {name: project.servers for name, project in self.projects.items()}


def merge(declared: Declared, stored: Stored) -> Directory:
    """One directory from settings and store, with the documented precedence."""
    directory = Directory(version=stored.version)
    _merge_projects(directory, declared, stored)
    _merge_users(directory, declared, stored)
    _merge_keys(directory, declared, stored)
    for user in directory.users.values():
        if user.project is not None and user.project not in directory.projects:
            directory.problems.append(
                f"user {user.name!r} is in unknown project {user.project!r}; its keys are refused "
                f"until the project exists (`portcullis projects create {user.project}`)"
            )
    return directory


def _merge_projects(directory: Directory, declared: Declared, stored: Stored) -> None:
    for name, project in declared.projects.items():
        directory.projects[name] = project
        directory.sources[f"project:{name}"] = SETTINGS
    for name, project in stored.projects.items():
        if name in directory.projects:
            directory.problems.append(
                f"project {name!r} is declared in settings and also created in the store; the settings' "
                "declaration applies"
            )
            continue
        directory.projects[name] = project


def _merge_users(directory: Directory, declared: Declared, stored: Stored) -> None:
    for name, user in declared.users.items():
        directory.users[name] = _restricted_user(user, stored.restrictions.get(f"user:{name}"))
        directory.sources[f"user:{name}"] = SETTINGS
    for name, user in stored.users.items():
        if name in directory.users:
            directory.problems.append(
                f"user {name!r} is declared in settings and also created in the store; the settings' "
                "declaration applies"
            )
            continue
        directory.users[name] = user
    for name, user in declared.implicit.items():
        if name not in directory.users:
            directory.users[name] = _restricted_user(user, stored.restrictions.get(f"user:{name}"))
            directory.sources[f"user:{name}"] = API_KEYS


def _restricted_user(user: UserRecord, restriction: Restriction | None) -> UserRecord:
    if restriction is None or not restriction.disabled:
        return user
    return replace(user, disabled=True)


def _merge_keys(directory: Directory, declared: Declared, stored: Stored) -> None:
    owners: dict[str, str] = {}
    for ident, key in declared.keys.items():
        restricted = _restricted_key(key, stored.restrictions.get(f"key:{ident}"))
        _add_key(directory, restricted, SETTINGS if "/" in ident else API_KEYS, owners)
    for key in stored.keys.values():
        if key.id in directory.keys:
            directory.problems.append(
                f"key {key.id!r} is in settings and the store; the settings' one applies"
            )
            continue
        _add_key(directory, key, STORE, owners)


def _add_key(directory: Directory, key: KeyRecord, source: str, owners: dict[str, str]) -> None:
    first = owners.get(key.sha256)
    if first is not None:
        directory.problems.append(f"keys {first!r} and {key.id!r} have the same hash; only {first!r} is used")
        return
    owners[key.sha256] = key.id
    directory.keys[key.id] = key
    directory.sources[f"key:{key.id}"] = source
    if key.user not in directory.users:
        directory.problems.append(f"key {key.id!r} belongs to unknown user {key.user!r}; it is refused")


def _restricted_key(key: KeyRecord, restriction: Restriction | None) -> KeyRecord:
    if restriction is None:
        return key
    expires = key.expires
    if restriction.expires is not None:
        expires = restriction.expires if expires is None else min(expires, restriction.expires)
    return replace(
        key,
        disabled=key.disabled or restriction.disabled,
        revoked=key.revoked or restriction.revoked,
        expires=expires,
        replaced_by=restriction.replaced_by or key.replaced_by,
    )
