"""``portcullis projects | users | keys ...``: the tenancy's run-time side.

Changes go to the store the gateway polls (the state file beside the settings, or ``[redis]``),
so they apply within about a second on every replica, without a restart. A key is printed once,
when made; lists show key ids and the first characters of keys, never a key or its hash.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.settings import Settings, SettingsError, find_settings_file, load_settings
from gateway.state.tenancy_admin import Admin, AdminError, key_state, when
from gateway.state.tenancy_merge import Directory, declared, merge
from gateway.tenancy import open_store, read_directory, settings_problems, store_location
from middleware.auth.keys import KeyRecord, Stored, TenancyStoreError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SETTINGS_HELP = "settings file (default: $PORTCULLIS_SETTINGS or ./settings.toml)"


def duration(text: str) -> float:
    """'90s', '30m', '24h', '7d', '2w' or plain seconds."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if found is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: write e.g. 90s, 30m, 24h, 7d")
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


def moment(text: str) -> float:
    """An ISO date-time (UTC unless it says otherwise), or a duration from now."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            return time.time() + duration(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is neither a date-time (2030-01-31T12:00:00Z) nor a duration (90d)"
            ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _settings(args: argparse.Namespace) -> Settings:
    path = find_settings_file(args.settings)
    settings = load_settings(path)
    problems = settings_problems(settings)
    if problems:
        raise SettingsError(str(path or "built-in defaults"), problems)
    if store_location(settings) == "memory":
        raise SettingsError(
            str(path or "built-in defaults"),
            [
                "guardrails.store: 'memory' keeps no tenancy between runs; "
                "set [redis] url or a state file path"
            ],
        )
    return settings


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


# --- projects ---------------------------------------------------------------------------------


async def _projects_create(admin: Admin, args: argparse.Namespace) -> int:
    project = await admin.create_project(args.name, args.server or ["*"], args.description)
    print(f"created project {project.name} (servers: {', '.join(project.servers)})")
    return 0


async def _projects_list(admin: Admin, args: argparse.Namespace) -> int:
    directory = await admin.directory()
    rows = [["PROJECT", "SOURCE", "USERS", "SERVERS", "DESCRIPTION"]]
    for name, project in sorted(directory.projects.items()):
        members = sum(1 for user in directory.users.values() if user.project == name)
        source = directory.source("project", name)
        rows.append([name, source, str(members), ",".join(project.servers), project.description])
    _print_table(rows) if len(rows) > 1 else print("no projects yet (`portcullis projects create NAME`)")
    return 0


async def _projects_show(admin: Admin, args: argparse.Namespace) -> int:
    directory = await admin.directory()
    project = directory.projects.get(args.name)
    if project is None:
        raise AdminError(f"no project {args.name!r}; `portcullis projects list` shows them")
    print(f"project:     {project.name} ({directory.source('project', project.name)})")
    print(f"servers:     {', '.join(project.servers)}")
    print(f"description: {project.description or '-'}")
    members = sorted(user.name for user in directory.users.values() if user.project == project.name)
    print(f"users:       {', '.join(members) or '-'}")
    return 0


async def _projects_delete(admin: Admin, args: argparse.Namespace) -> int:
    await admin.delete_project(args.name)
    print(f"deleted project {args.name}")
    return 0


# --- users ------------------------------------------------------------------------------------


async def _users_create(admin: Admin, args: argparse.Namespace) -> int:
    user = await admin.create_user(args.name, args.project, args.role or [], args.email)
    print(
        f"created user {user.name} in project {user.project}; "
        f"make a key with `portcullis keys create {user.name}`"
    )
    return 0


async def _users_list(admin: Admin, args: argparse.Namespace) -> int:
    directory = await admin.directory()
    rows = [["USER", "PROJECT", "SOURCE", "ROLES", "KEYS", "STATE"]]
    for name, user in sorted(directory.users.items()):
        if args.project and user.project != args.project:
            continue
        keys = sum(1 for key in directory.keys.values() if key.user == name)
        state = "disabled" if user.disabled else "active"
        rows.append(
            [
                name,
                user.project or "-",
                directory.source("user", name),
                ",".join(user.roles) or "-",
                str(keys),
                state,
            ]
        )
    _print_table(rows) if len(rows) > 1 else print("no users (`portcullis users create NAME --project P`)")
    return 0


async def _users_show(admin: Admin, args: argparse.Namespace) -> int:
    directory = await admin.directory()
    user = directory.users.get(args.name)
    if user is None:
        raise AdminError(f"no user {args.name!r}; `portcullis users list` shows them")
    print(f"user:    {user.name} ({directory.source('user', user.name)})")
    print(f"project: {user.project or '-'}")
    print(f"roles:   {', '.join(user.roles) or '-'}")
    print(f"email:   {user.email or '-'}")
    print(f"state:   {'disabled' if user.disabled else 'active'}")
    _print_keys(directory, [key for key in directory.keys.values() if key.user == user.name])
    return 0


async def _users_disable(admin: Admin, args: argparse.Namespace) -> int:
    print(f"user {args.name}: {await admin.set_user_disabled(args.name, True)}")
    return 0


async def _users_enable(admin: Admin, args: argparse.Namespace) -> int:
    print(f"user {args.name}: {await admin.set_user_disabled(args.name, False)}")
    return 0


async def _users_delete(admin: Admin, args: argparse.Namespace) -> int:
    keys = await admin.delete_user(args.name)
    print(f"deleted user {args.name} and its {keys} keys")
    return 0


# --- keys -------------------------------------------------------------------------------------


def _show_new_key(record: KeyRecord, key: str) -> None:
    print(f"key {record.id} for user {record.user} (name {record.name}, expires {when(record.expires)})")
    print("give it to the client now: it is shown once and only its hash is stored\n")
    print(f"    {key}\n")


def _print_keys(directory: Directory, keys: Sequence[KeyRecord]) -> None:
    now = time.time()
    rows = [["KEY ID", "USER", "NAME", "PREFIX", "SOURCE", "CREATED", "EXPIRES", "STATE"]]
    for key in sorted(keys, key=lambda k: (k.user, k.created or 0, k.id)):
        rows.append(
            [
                key.id,
                key.user,
                key.name,
                key.prefix + "..." if key.prefix else "-",
                directory.source("key", key.id),
                when(key.created) if key.created else "-",
                when(key.expires),
                key_state(directory, key, now),
            ]
        )
    _print_table(rows) if len(rows) > 1 else print("no keys")


async def _keys_create(admin: Admin, args: argparse.Namespace) -> int:
    _show_new_key(*await admin.create_key(args.user, args.name, args.expires))
    return 0


async def _keys_list(admin: Admin, args: argparse.Namespace) -> int:
    directory = await admin.directory()
    _print_keys(directory, [k for k in directory.keys.values() if args.user in (None, k.user)])
    return 0


async def _keys_rotate(admin: Admin, args: argparse.Namespace) -> int:
    old, new, key = await admin.rotate(args.key_id, args.grace, args.expires)
    _show_new_key(new, key)
    print(f"the old key {old.id} keeps working until {when(old.expires)}")
    return 0


async def _keys_revoke(admin: Admin, args: argparse.Namespace) -> int:
    await admin.revoke(args.key_id)
    print(f"revoked key {args.key_id}; gateways refuse it within seconds")
    return 0


async def _keys_disable(admin: Admin, args: argparse.Namespace) -> int:
    print(f"key {args.key_id}: {await admin.set_key_disabled(args.key_id, True)}")
    return 0


async def _keys_enable(admin: Admin, args: argparse.Namespace) -> int:
    print(f"key {args.key_id}: {await admin.set_key_disabled(args.key_id, False)}")
    return 0


async def _keys_delete(admin: Admin, args: argparse.Namespace) -> int:
    await admin.delete_key(args.key_id)
    print(f"deleted key {args.key_id}")
    return 0


# --- plumbing ---------------------------------------------------------------------------------

Handler = Callable[[Admin, argparse.Namespace], Awaitable[int]]


def _run(handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            settings = _settings(args)
        except SettingsError as error:
            print(
                f"portcullis: invalid settings in {error.source}: {'; '.join(error.problems)}",
                file=sys.stderr,
            )
            return 2
        return asyncio.run(_with_store(settings, handler, args))

    return run


async def _with_store(settings: Settings, handler: Handler, args: argparse.Namespace) -> int:
    store = open_store(settings)
    try:
        return await handler(Admin(settings, store), args)
    except AdminError as error:
        print(f"portcullis: {error}", file=sys.stderr)
        return 1
    except TenancyStoreError as error:
        print(f"portcullis: {error}; nothing was changed", file=sys.stderr)
        return 1
    finally:
        await store.close()


def _add(actions: Any, name: str, handler: Handler, about: str) -> argparse.ArgumentParser:
    action: argparse.ArgumentParser = actions.add_parser(name, help=about, description=about)
    action.add_argument("--settings", help=SETTINGS_HELP)
    action.set_defaults(handler=_run(handler))
    return action


def _add_projects(commands: Any) -> None:
    actions = commands.add_parser("projects", help="projects: the servers a group of users may reach")
    actions = actions.add_subparsers(dest="action", required=True)
    create = _add(actions, "create", _projects_create, "create a project bound to some servers")
    create.add_argument("name")
    create.add_argument("--server", action="append", help="a server name or glob (repeat; default: all)")
    create.add_argument("--description", default="")
    _add(actions, "list", _projects_list, "every project, from settings and store")
    for verb, handler, about in (
        ("show", _projects_show, "one project"),
        ("delete", _projects_delete, "delete one"),
    ):
        _add(actions, verb, handler, about).add_argument("name")


def _add_users(commands: Any) -> None:
    actions = commands.add_parser("users", help="users: members of a project, who hold keys")
    actions = actions.add_subparsers(dest="action", required=True)
    create = _add(actions, "create", _users_create, "create a user in a project")
    create.add_argument("name")
    create.add_argument("--project", required=True)
    create.add_argument("--role", action="append", help="a role policies may name (repeat)")
    create.add_argument("--email")
    _add(actions, "list", _users_list, "every user, from settings and store").add_argument("--project")
    for verb, handler, about in (
        ("show", _users_show, "one user and its keys"),
        ("disable", _users_disable, "refuse every key of a user (settings-declared ones too)"),
        ("enable", _users_enable, "undo disable"),
        ("delete", _users_delete, "delete a user made with `users create`, and its keys"),
    ):
        _add(actions, verb, handler, about).add_argument("name")


def _add_keys(commands: Any) -> None:
    actions = commands.add_parser("keys", help="API keys: create, list, rotate, revoke, disable, enable")
    actions = actions.add_subparsers(dest="action", required=True)
    create = _add(actions, "create", _keys_create, "make a key for a user; it is shown once")
    create.add_argument("user")
    create.add_argument("--name", default="default", help="what the key is for (e.g. laptop, ci)")
    create.add_argument("--expires", type=moment, help="a date-time or a duration from now (90d)")
    _add(actions, "list", _keys_list, "every key (ids and prefixes only)").add_argument("user", nargs="?")
    rotate = _add(actions, "rotate", _keys_rotate, "make a new key; the old one works for --grace more")
    rotate.add_argument("key_id")
    rotate.add_argument("--grace", type=duration, default=86400.0, help="how long the old key works (24h)")
    rotate.add_argument(
        "--expires", type=moment, help="the new key's expiry (default: the old key's lifetime)"
    )
    for verb, handler, about in (
        ("revoke", _keys_revoke, "refuse a key for good (settings-declared ones too)"),
        ("disable", _keys_disable, "refuse a key until enabled"),
        ("enable", _keys_enable, "undo disable"),
        ("delete", _keys_delete, "forget a key made with `keys create`"),
    ):
        _add(actions, verb, handler, about).add_argument("key_id")


def add_commands(commands: Any) -> None:
    """``portcullis projects | users | keys ...`` under the CLI's sub-commands."""
    _add_projects(commands)
    _add_users(commands)
    _add_keys(commands)


# --- check ------------------------------------------------------------------------------------


def report(settings: Settings) -> tuple[list[str], list[str]]:
    """What ``check`` says of the tenancy: (lines to print, problems). An unreachable store is
    a problem; a state file not made yet is not (nothing was made at run time)."""
    location = store_location(settings)
    if location == "memory" or ("://" not in location and not Path(location).exists()):
        directory = merge(declared(settings), Stored())
        return [f"tenancy store: {location} (nothing made with the CLI yet)", _counts(directory)], []
    try:
        directory, where = asyncio.run(_read(settings))
    except (TenancyStoreError, TimeoutError) as error:
        reason = str(error) or "no answer within 5 s"
        settings_only = merge(declared(settings), Stored())
        return (
            [f"tenancy store: UNREACHABLE ({reason})", _counts(settings_only) + " (settings only)"],
            [f"tenancy store unreachable: {reason}; keys made or revoked at run time cannot be checked"],
        )
    return [f"tenancy store: {where} (version {directory.version})", _counts(directory)], directory.problems


async def _read(settings: Settings) -> tuple[Directory, str]:
    store = open_store(settings)
    try:
        return await asyncio.wait_for(read_directory(settings, store), 5), store.where
    finally:
        await store.close()


def _counts(directory: Directory) -> str:
    return (
        f"tenancy: {len(directory.projects)} projects, {len(directory.users)} users, "
        f"{len(directory.keys)} keys"
    )
