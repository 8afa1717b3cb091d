"""``portcullis install | uninstall CLIENT``: write (or take back) a client's entry for the gateway.

Both commands show the change as a diff (keys masked), ask before writing unless ``--yes``, and
only show it with ``--dry-run``. ``install`` backs the file up once, beside it, as
``<file>.portcullis-backup``. ``uninstall`` removes only our entry, leaving whatever else changed
since as it is now; when the file is still exactly the backup plus our entry, it puts the backup
back instead (which also brings back an entry of the same name that ``install`` replaced); a
backup that the file is again identical to is deleted, as it no longer holds anything, and so is a
file that ``install`` created (no backup) once our entry was all it held.

Exit codes: 0 done, already as asked (both can be run again: nothing to change, nothing to remove),
or a dry run; 1 declined at the prompt, nothing written; 2 refused: bad arguments, an unsafe URL, a
file that is not JSON or not a client configuration, no terminal to ask on without ``--yes``, or a
file that could not be read or written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway.client_setup.clients import CLIENTS, Client, default_path
from gateway.client_setup.config_files import ConfigError, get_entry, remove_entry, set_entry
from gateway.client_setup.review import approve, diff
from gateway.client_setup.target import (
    DEFAULT_URL,
    KEY_ENV,
    Target,
    portcullis_command,
    resolve_key,
    resolve_settings,
    url_problem,
)
from gateway.client_setup.writing import (
    backup_path,
    file_mode,
    keep_backup,
    read_text,
    real_path,
    write_atomic,
)

REFUSED = 2


def _path(args: argparse.Namespace) -> Path:
    return real_path(Path(args.config) if args.config else default_path(args.client))


def _target(args: argparse.Namespace, client: Client) -> Target:
    """What the entry points at, from the flags: refuses what is unsafe or contradictory."""
    url = args.http
    if url is None and not args.stdio and client.remote is not None:
        url = DEFAULT_URL  # a client that speaks HTTP itself: the local gateway
    if url is not None and args.settings:
        raise ConfigError("--settings is for an in-process gateway (--stdio); --http reaches a running one")
    if url is not None:
        problem = url_problem(url, args.allow_insecure)
        if problem:
            raise ConfigError(problem)
    if not args.name or not args.name.isprintable():
        raise ConfigError(f"--name {args.name!r}: give a non-empty, printable name")
    key = resolve_key(args.key)
    if key is not None and (not key.isprintable() or any(part.isspace() for part in key)):
        raise ConfigError("the API key must be one word of printable characters; check --key or $" + KEY_ENV)
    settings = resolve_settings(args.settings) if url is None else None
    if args.settings and not Path(args.settings).expanduser().is_file():
        raise ConfigError(f"--settings {args.settings}: no such file; the in-process gateway would not start")
    return Target(url, key, portcullis_command(), settings)


def _show(old: str | None, new: str, path: Path, secrets: list[str | None]) -> None:
    sys.stdout.write(diff(old, new, str(path), secrets))


def install(args: argparse.Namespace) -> int:
    client = CLIENTS[args.client]
    try:
        target = _target(args, client)
        path = _path(args)
        old = read_text(path)
        new = set_entry(old or "", client.servers_key, args.name, client.entry(target), str(path))
    except ConfigError as error:
        print(f"portcullis: {error}", file=sys.stderr)
        return REFUSED
    _warn(client, target, path)
    if new == old:
        print(f"{path}: {client.title} already has this {args.name!r} entry; nothing to change")
        return 0
    _show(old, new, path, [target.key])
    stop = approve(f"Write {path}?", dry_run=args.dry_run, yes=args.yes)
    if stop is not None:
        return stop
    try:
        if old is not None:
            backup, made = keep_backup(path, old)
            said = "the file as it was is in" if made else "kept the backup from before the first install:"
            print(f"{said} {backup}")
        write_atomic(path, new, file_mode(path))
    except OSError as error:
        print(f"portcullis: cannot write {path}: {error.strerror}", file=sys.stderr)
        return REFUSED
    print(f"wrote {path}; restart {client.title} (or reload its MCP servers) to use the gateway")
    return 0


def _warn(client: Client, target: Target, path: Path) -> None:
    """What the user should know about the entry: no credential, or a key in a readable file."""
    if target.key is None:
        where = "the Authorization header" if target.url and client.remote else f"env {KEY_ENV}"
        print(
            f"portcullis: warning: no API key (neither --key nor ${KEY_ENV}): the entry has no credential "
            f"and a gateway with auth on will refuse it. Make one with `portcullis keygen`, then run "
            f"install again with --key KEY (or ${KEY_ENV} set); it goes in {where}",
            file=sys.stderr,
        )
        return
    mode = file_mode(path)
    if mode is not None and mode & 0o077:
        print(
            f"portcullis: note: {path} is readable by others (mode {mode:o}) and will hold your API key; "
            f"`chmod 600 {path}` keeps it yours",
            file=sys.stderr,
        )


def uninstall(args: argparse.Namespace) -> int:
    client = CLIENTS[args.client]
    try:
        path = _path(args)
        old = read_text(path)
        current = get_entry(old, client.servers_key, args.name, str(path)) if old is not None else None
        if old is None or current is None:
            print(f"{path}: no {args.name!r} entry for {client.title}; nothing to remove")
            return 0
        backup = read_text(backup_path(path))
    except ConfigError as error:
        print(f"portcullis: {error}", file=sys.stderr)
        return REFUSED
    new, note = _undone(old, backup, client, args.name, current)
    _show(old, new or "", path, [])
    if note:
        print(note.format(path=path, backup=backup_path(path)))
    stop = approve(f"Write {path}?", dry_run=args.dry_run, yes=args.yes)
    if stop is not None:
        return stop
    try:
        if new is None:
            path.unlink()
        else:
            write_atomic(path, new, file_mode(path))
            _settle_backup(path, new, backup)
    except OSError as error:
        print(f"portcullis: cannot write {path}: {error.strerror}", file=sys.stderr)
        return REFUSED
    print(f"removed {args.name!r} from {path}; restart {client.title} to drop it")
    return 0


def _undone(old: str, backup: str | None, client: Client, name: str, entry: Any) -> tuple[str | None, str]:
    """The file without our entry (None: delete it) and what to tell the user about how."""
    if backup is not None:
        try:
            if set_entry(backup, client.servers_key, name, entry, "backup") == old:
                return backup, "(the file is its backup plus our entry: putting {backup} back)"
        except ConfigError:
            pass  # a backup that is no longer JSON: just take our entry out
    new = remove_entry(old, client.servers_key, name, "")
    assert new is not None  # the caller found the entry
    if backup is None and new == json.dumps({client.servers_key: {}}, indent=2) + "\n":
        return None, "(install created {path} and nothing else is in it now: deleting it)"
    return new, ""


def _settle_backup(path: Path, written: str, backup: str | None) -> None:
    """Delete the backup once the file is identical to it again; otherwise say it is still there."""
    if backup is None:
        return
    if written == backup:
        backup_path(path).unlink()
        print(f"{path} is as it was before install; removed its backup")
    else:
        print(
            f"kept {backup_path(path)}: the file as it was before install (the changes made since "
            "are kept in the file); delete it when you no longer need it"
        )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("client", choices=sorted(CLIENTS), help="the MCP client to configure")
    parser.add_argument("--name", default="portcullis", help="the entry's name (default: portcullis)")
    parser.add_argument("--config", metavar="PATH", help="the client's file (default: its user-wide file)")
    parser.add_argument("--dry-run", action="store_true", help="only show the change")
    parser.add_argument("--yes", "-y", action="store_true", help="write without asking")


def add_commands(commands: Any) -> None:
    """``portcullis install`` and ``portcullis uninstall`` under the CLI's sub-commands."""
    install_parser = commands.add_parser(
        "install", help="make an MCP client use the gateway", description=_INSTALL, epilog=_EXITS
    )
    _common(install_parser)
    how = install_parser.add_mutually_exclusive_group()
    how.add_argument(
        "--http",
        nargs="?",
        const=DEFAULT_URL,
        metavar="URL",
        help=f"reach a running gateway at URL (default {DEFAULT_URL}); natively where the client can",
    )
    how.add_argument("--stdio", action="store_true", help="start an in-process gateway (`portcullis stdio`)")
    install_parser.add_argument("--settings", metavar="PATH", help="with --stdio: its settings file")
    install_parser.add_argument("--key", help=f"the API key (default: ${KEY_ENV})")
    install_parser.add_argument(
        "--allow-insecure", action="store_true", help="allow plain http:// to a host other than this machine"
    )
    install_parser.set_defaults(handler=install)
    uninstall_parser = commands.add_parser(
        "uninstall",
        help="remove the gateway's entry from an MCP client",
        description=_UNINSTALL,
        epilog=_EXITS,
    )
    _common(uninstall_parser)
    uninstall_parser.set_defaults(handler=uninstall)


_INSTALL = (
    "Write the client's MCP configuration so that it uses the gateway: natively over HTTP where the "
    "client can, else through `portcullis stdio`. Shows the change (keys masked), asks, backs the file "
    "up once as <file>.portcullis-backup, then replaces it atomically. See docs/clients.md."
)
_UNINSTALL = (
    "Remove the gateway's entry from the client's configuration, leaving the rest as it is now; puts "
    "the backup back instead when nothing else changed since install. See docs/clients.md."
)
_EXITS = "exit codes: 0 done (or already so, or a dry run), 1 declined at the prompt, 2 refused"
