"""Changes to the tenancy made at run time (``portcullis projects | users | keys``).

Each change reads settings and store merged, refuses what would contradict the settings (those
are changed by editing them), and writes one row; the running gateways see it within their poll.
A user or key declared in settings is never rewritten: a :class:`Restriction` row takes access
away from it (disable, revoke, the end of a rotation's grace) and ``enable`` lifts only that.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import time
from typing import Any

from gateway.settings import Settings
from gateway.settings.identity import NAME, NAME_RULE
from gateway.state.tenancy_merge import STORE, Directory, declared, merge
from middleware.auth.api_key import hash_key
from middleware.auth.keys import (
    SHOWN_PREFIX,
    KeyRecord,
    ProjectRecord,
    Restriction,
    Stored,
    TenancyStore,
    UserRecord,
    forget,
    load,
    new_key,
    new_key_id,
    save,
)


class AdminError(Exception):
    """A change refused; the message says why and what to do instead."""


def _check_name(kind: str, name: str) -> None:
    if not NAME.match(name):
        raise AdminError(f"{name!r} is not a valid {kind} name: use {NAME_RULE}")


def key_state(directory: Directory, key: KeyRecord, now: float) -> str:
    """One word or phrase for lists: why a key does not work, or until when it does."""
    refusal = directory.refusal(key)
    if refusal is not None:
        return refusal
    if key.expires is not None and key.expires <= now:
        return "expired"
    if key.replaced_by is not None:
        return f"rotated to {key.replaced_by}, works until {when(key.expires)}"
    return "active"


def when(moment: float | None) -> str:
    if moment is None:
        return "never"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


class Admin:
    """The operator's changes, against one settings file and its store."""

    def __init__(self, settings: Settings, store: TenancyStore) -> None:
        self.settings = settings
        self.store = store

    async def read(self) -> tuple[Stored, Directory]:
        stored = await load(self.store)
        return stored, merge(declared(self.settings), stored)

    async def directory(self) -> Directory:
        return (await self.read())[1]

    # --- projects -----------------------------------------------------------------------------

    async def create_project(self, name: str, servers: list[str], description: str) -> ProjectRecord:
        _check_name("project", name)
        if name in (await self.directory()).projects:
            raise AdminError(f"project {name!r} exists already; `portcullis projects show {name}` shows it")
        unmatched = [s for s in servers if not any(fnmatch.fnmatchcase(n, s) for n in self.settings.servers)]
        if unmatched and self.settings.servers:
            names = ", ".join(self.settings.servers)
            raise AdminError(f"{unmatched[0]!r} matches no configured server ({names}); fix the name or glob")
        project = ProjectRecord(name, tuple(servers), description, time.time())
        if not await save(self.store, project, only_new=True):
            raise AdminError(f"project {name!r} was created meanwhile; list the projects again")
        return project

    async def delete_project(self, name: str) -> None:
        directory = await self.directory()
        self._stored_only(directory, "project", name, "projects")
        members = sorted(u.name for u in directory.users.values() if u.project == name)
        if members:
            raise AdminError(
                f"project {name!r} still has users ({', '.join(members)}); delete them first "
                "(`portcullis users delete NAME`)"
            )
        await forget(self.store, "project", name)

    # --- users --------------------------------------------------------------------------------

    async def create_user(self, name: str, project: str, roles: list[str], email: str | None) -> UserRecord:
        _check_name("user", name)
        directory = await self.directory()
        if name in directory.users:
            raise AdminError(f"user {name!r} exists already; `portcullis users show {name}` shows it")
        if project not in directory.projects:
            raise AdminError(
                f"unknown project {project!r}; create it first (`portcullis projects create {project}`)"
            )
        user = UserRecord(name, project, tuple(roles), email, False, time.time())
        if not await save(self.store, user, only_new=True):
            raise AdminError(f"user {name!r} was created meanwhile; list the users again")
        return user

    async def set_user_disabled(self, name: str, disabled: bool) -> str:
        stored, directory = await self.read()
        user = directory.users.get(name)
        if user is None:
            raise AdminError(f"no user {name!r}; `portcullis users list` shows them")
        if directory.source("user", name) == STORE:
            await save(self.store, dataclasses.replace(stored.users[name], disabled=disabled))
            return "disabled" if disabled else "enabled"
        await self._restrict(stored, f"user:{name}", disabled=disabled)
        declared_user = self.settings.users.get(name)
        if not disabled and declared_user is not None and declared_user.disabled:
            return f"still disabled: settings say users.{name}.disabled = true; change it there"
        return "disabled" if disabled else "enabled"

    async def delete_user(self, name: str) -> int:
        """Delete a user made at run time, and its keys; how many keys went with it."""
        stored, directory = await self.read()
        self._stored_only(directory, "user", name, "users")
        keys = [key.id for key in stored.keys.values() if key.user == name]
        for ident in keys:  # first the keys, so that none is ever left to an unknown user
            await forget(self.store, "key", ident)
        await forget(self.store, "user", name)
        return len(keys)

    # --- keys ---------------------------------------------------------------------------------

    async def create_key(self, user: str, name: str, expires: float | None) -> tuple[KeyRecord, str]:
        _check_name("key", name)
        directory = await self.directory()
        if user not in directory.users:
            raise AdminError(
                f"no user {user!r}; create it first (`portcullis users create {user} --project P`)"
            )
        return await self._new_key(user, name, expires)

    async def _new_key(self, user: str, name: str, expires: float | None) -> tuple[KeyRecord, str]:
        key = new_key()
        record = KeyRecord(new_key_id(), user, name, hash_key(key), key[:SHOWN_PREFIX], time.time(), expires)
        if not await save(self.store, record, only_new=True):
            raise AdminError("a key id was drawn twice; run the command again")
        return record, key

    async def rotate(
        self, ident: str, grace: float, expires: float | None
    ) -> tuple[KeyRecord, KeyRecord, str]:
        """A new key for the same user; the old one works ``grace`` seconds more, then stops.
        Without ``expires``, the new key lives as long as the old one was made to."""
        stored, directory = await self.read()
        old = self._key(directory, ident)
        if old.revoked:
            raise AdminError(
                f"key {ident!r} is revoked; make a new one with `portcullis keys create {old.user}`"
            )
        if old.replaced_by is not None:
            raise AdminError(f"key {ident!r} was already rotated to {old.replaced_by!r}; rotate that one")
        now = time.time()
        if expires is None and old.expires is not None and old.created is not None:
            expires = now + (old.expires - old.created)
        new, key = await self._new_key(old.user, old.name, expires)
        ends = now + grace if old.expires is None else min(old.expires, now + grace)
        await self._change_key(stored, directory, old, expires=ends, replaced_by=new.id)
        return dataclasses.replace(old, expires=ends, replaced_by=new.id), new, key

    async def revoke(self, ident: str) -> None:
        stored, directory = await self.read()
        await self._change_key(stored, directory, self._key(directory, ident), revoked=True)

    async def set_key_disabled(self, ident: str, disabled: bool) -> str:
        stored, directory = await self.read()
        key = self._key(directory, ident)
        if key.revoked and not disabled:
            raise AdminError(
                f"key {ident!r} is revoked, for good; make a new one with `portcullis keys create`"
            )
        await self._change_key(stored, directory, key, disabled=disabled)
        user, _, name = ident.partition("/")
        declared_user = self.settings.users.get(user)
        if (
            not disabled
            and declared_user is not None
            and any(k.disabled and k.name == name for k in declared_user.keys)
        ):
            return "still disabled: the settings disable it; change it there"
        return "disabled" if disabled else "enabled"

    async def delete_key(self, ident: str) -> None:
        directory = await self.directory()
        self._key(directory, ident)
        if directory.source("key", ident) != STORE:
            raise AdminError(
                f"key {ident!r} is declared in settings; revoke it, or remove it from the settings"
            )
        await forget(self.store, "key", ident)

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _key(directory: Directory, ident: str) -> KeyRecord:
        key = directory.keys.get(ident)
        if key is None:
            raise AdminError(f"no key {ident!r}; `portcullis keys list` shows the key ids")
        return key

    @staticmethod
    def _stored_only(directory: Directory, kind: str, name: str, command: str) -> None:
        found = getattr(directory, kind + "s").get(name)
        if found is None:
            raise AdminError(f"no {kind} {name!r}; `portcullis {command} list` shows them")
        if directory.source(kind, name) != STORE:
            instead = f", or `portcullis users disable {name}`" if kind == "user" else ""
            raise AdminError(
                f"{kind} {name!r} is declared in settings ({directory.source(kind, name)}); "
                f"remove it from the settings{instead}"
            )

    async def _change_key(self, stored: Stored, directory: Directory, key: KeyRecord, **changes: Any) -> None:
        if directory.source("key", key.id) == STORE:
            await save(self.store, dataclasses.replace(stored.keys[key.id], **changes))
        else:
            await self._restrict(stored, f"key:{key.id}", **changes)

    async def _restrict(self, stored: Stored, target: str, **changes: Any) -> None:
        """Record (or lift) a restriction of a settings-declared user or key."""
        restriction = dataclasses.replace(stored.restrictions.get(target) or Restriction(target), **changes)
        if restriction == Restriction(target):
            await forget(self.store, "restriction", target)
        else:
            await save(self.store, restriction)
