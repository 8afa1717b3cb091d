"""``portcullis admin RESOURCE ACTION``: the admin REST API of a running gateway, from a shell.

Every command is one HTTP request (httpx2: a cold path) to ``--url`` (or
``$PORTCULLIS_ADMIN_URL``) with ``--token`` (or ``$PORTCULLIS_ADMIN_TOKEN``); answers are printed as
JSON, refusals as the API's message and fix on stderr (exit 1; 2 when the gateway cannot be
reached). ``portcullis admin token`` makes an admin token and the hash to configure, offline.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

DEFAULT_URL = "http://127.0.0.1:8788"


@dataclass(frozen=True)
class Opt:
    """A command-line option that becomes a body field (or a query parameter)."""

    flag: str
    about: str
    kind: type = str
    many: bool = False
    query: bool = False


@dataclass(frozen=True)
class Command:
    resource: str
    action: str
    about: str
    method: str
    path: str
    """With {names} of positional arguments."""
    options: tuple[Opt, ...] = ()
    upload: str | None = None
    """A positional FILE sent as this body field (TOML text), or '*' for a whole JSON body."""
    extra: dict[str, Any] = field(default_factory=dict)


def _named(resource: str, noun: str, actions: tuple[tuple[str, str], ...]) -> list[Command]:
    return [Command(resource, a, about, "POST", f"/{resource}/{{{noun}}}/{a}") for a, about in actions]


SERVER = Opt("--server", "the server's name in settings")
PIN = (Opt("--kind", "tool, prompt or resource (when names clash)"),)
COMMANDS: list[Command] = [
    Command("servers", "list", "every server and its state", "GET", "/servers"),
    Command("servers", "restart", "restart a shared server", "POST", "/servers/{name}/restart"),
    Command("tools", "list", "each server's tools as last listed, with their pins' state", "GET", "/tools"),
    Command("projects", "list", "projects", "GET", "/projects"),
    Command(
        "projects",
        "create",
        "create a project",
        "POST",
        "/projects",
        (
            Opt("--name", "its name"),
            Opt("--servers", "a server name or glob", many=True),
            Opt("--description", ""),
        ),
    ),
    Command("projects", "delete", "delete a project made at run time", "DELETE", "/projects/{name}"),
    Command("users", "list", "users", "GET", "/users"),
    Command(
        "users",
        "create",
        "create a user",
        "POST",
        "/users",
        (Opt("--name", "its name"), Opt("--project", "its project"), Opt("--roles", "a role", many=True)),
    ),
    *_named("users", "name", (("disable", "disable a user"), ("enable", "enable a user"))),
    Command("users", "delete", "delete a user made at run time", "DELETE", "/users/{name}"),
    Command(
        "keys", "list", "keys: ids and prefixes", "GET", "/keys", (Opt("--user", "one user's", query=True),)
    ),
    Command(
        "keys",
        "create",
        "make a key (printed once)",
        "POST",
        "/keys",
        (Opt("--user", "whose"), Opt("--name", "the key's name"), Opt("--expires-in", "seconds", float)),
    ),
    Command(
        "keys",
        "rotate",
        "make a new key; the old one works --grace seconds more",
        "POST",
        "/keys/{ident}/rotate",
        (Opt("--grace", "seconds", float), Opt("--expires-in", "seconds", float)),
    ),
    *_named(
        "keys",
        "ident",
        (("revoke", "revoke a key"), ("disable", "disable a key"), ("enable", "enable a key")),
    ),
    Command("keys", "delete", "delete a key made at run time", "DELETE", "/keys/{ident}"),
    Command("policies", "list", "the policy rules as loaded", "GET", "/policies"),
    Command("plugins", "list", "plugins and built-in guardrails", "GET", "/plugins"),
    Command(
        "plugins", "mode", "change a plugin's mode", "POST", "/plugins/{name}/mode", (Opt("--mode", "mode"),)
    ),
    *_named("plugins", "name", (("disable", "disable a plugin"), ("enable", "enable a plugin"))),
    Command("pins", "list", "pinned definitions", "GET", "/pins"),
    Command(
        "pins", "approve", "approve a definition", "POST", "/pins/approve", (SERVER, Opt("--name", ""), *PIN)
    ),
    Command(
        "pins", "revoke", "quarantine a definition", "POST", "/pins/revoke", (SERVER, Opt("--name", ""), *PIN)
    ),
    Command("cache", "status", "what the caches hold", "GET", "/cache"),
    Command("cache", "clear", "forget cached answers", "POST", "/cache/clear", (SERVER,)),
    Command("sessions", "list", "sessions (id prefixes)", "GET", "/sessions"),
    Command("sessions", "end", "end a session", "DELETE", "/sessions/{prefix}"),
    Command("timeouts", "show", "timeouts per operation type", "GET", "/timeouts"),
    Command(
        "audit",
        "recent",
        "the latest decisions, newest first",
        "GET",
        "/audit/recent",
        (
            Opt("--limit", "how many (1 to 500, default 100)", query=True),
            Opt("--verdict", "only these verdicts (comma-separated), or 'refusals'", query=True),
        ),
    ),
    Command(
        "config",
        "export",
        "settings, secrets masked",
        "GET",
        "/config",
        (Opt("--format", "json|toml", query=True),),
    ),
    Command("config", "validate", "validate a settings file", "POST", "/config/validate", upload="toml"),
    Command(
        "config", "import", "validate and apply a settings file", "POST", "/config/import", upload="toml"
    ),
    Command("state", "backup", "the state store as JSON", "GET", "/backup"),
    Command(
        "state",
        "restore",
        "write a backup back",
        "POST",
        "/restore",
        (Opt("--replace", "first forget what the backup lacks", bool),),
        upload="*",
    ),
    Command("openapi", "show", "the API's OpenAPI document", "GET", "/openapi.json"),
]


def _dest(opt: Opt) -> str:
    return opt.flag.removeprefix("--").replace("-", "_")


def _request(command: Command, args: argparse.Namespace) -> tuple[str, dict[str, Any] | None, dict[str, str]]:
    """The path, JSON body and query of one command."""
    path = command.path.format(**{name: getattr(args, name) for name in _positionals(command)})
    payload: dict[str, Any] = {}
    query: dict[str, str] = {}
    for opt in command.options:
        value = getattr(args, _dest(opt))
        if value is None or value is False:
            continue
        if opt.query:
            query[_dest(opt)] = str(value)
        else:
            payload[_dest(opt)] = value
    if command.upload == "*":
        payload = {**orjson.loads(Path(args.file).read_bytes()), **payload}
    elif command.upload is not None:
        payload[command.upload] = Path(args.file).read_text()
    return path, (payload if command.method != "GET" else None), query


def _positionals(command: Command) -> list[str]:
    return [part[1:-1] for part in command.path.split("/") if part.startswith("{")]


def run(command: Command, args: argparse.Namespace) -> int:
    import httpx2

    token = args.token or os.environ.get("PORTCULLIS_ADMIN_TOKEN")
    url = (args.url or os.environ.get("PORTCULLIS_ADMIN_URL") or DEFAULT_URL).rstrip("/")
    try:
        path, payload, query = _request(command, args)
    except (OSError, orjson.JSONDecodeError) as exc:
        print(f"portcullis: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        answer = httpx2.request(
            command.method,
            f"{url}/api/v1{path}",
            json=payload,
            params=query,
            headers=headers,
            timeout=args.timeout,
        )
    except httpx2.HTTPError as exc:
        print(
            f"portcullis: cannot reach the admin API at {url} ({exc}); is [admin] enabled?", file=sys.stderr
        )
        return 2
    return _show(command, answer.status_code, answer.content)


def _show(command: Command, status: int, raw: bytes) -> int:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        print(f"portcullis: the admin API answered {status} without JSON", file=sys.stderr)
        return 1
    if status >= 400:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        print(f"portcullis: {error.get('message', status)} ({status})", file=sys.stderr)
        if error.get("fix"):
            print(f"  fix: {error['fix']}", file=sys.stderr)
        return 1
    if command.resource == "config" and isinstance(data, dict) and data.get("format") == "toml":
        sys.stdout.write(data["text"])
    else:
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def token(args: argparse.Namespace) -> int:
    """A new admin token, and the [admin] table that accepts it."""
    from gateway.admin.auth import new_admin_token
    from middleware.auth.api_key import hash_key

    made = new_admin_token()
    print(f"Admin token (give it to operators; it is not stored):\n\n    {made}\n")
    print(f'Add to settings.toml:\n\n[admin]\nenabled = true\ntoken_sha256 = "{hash_key(made)}"')
    return 0


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"the admin API (default: $PORTCULLIS_ADMIN_URL or {DEFAULT_URL})")
    parser.add_argument("--token", help="the admin token (default: $PORTCULLIS_ADMIN_TOKEN)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the answer")


def _add(actions: Any, command: Command) -> None:
    action = actions.add_parser(command.action, help=command.about)
    for name in _positionals(command):
        action.add_argument(name)
    if command.upload is not None:
        action.add_argument("file", help="the file to send")
    for opt in command.options:
        if opt.kind is bool:
            action.add_argument(opt.flag, action="store_true", help=opt.about)
        else:
            many = {"action": "append"} if opt.many else {}
            action.add_argument(opt.flag, type=opt.kind, help=opt.about or None, **many)
    _connection(action)
    action.set_defaults(handler=lambda args, c=command: run(c, args))


def add_commands(commands: Any) -> None:
    """``portcullis admin ...`` under the CLI's sub-commands."""
    admin = commands.add_parser("admin", help="operate a running gateway through its admin API")
    resources = admin.add_subparsers(dest="resource", required=True)
    make = resources.add_parser("token", help="make an admin token and its hash (offline)")
    make.set_defaults(handler=token)
    groups: dict[str, Any] = {}
    for command in COMMANDS:
        if command.resource not in groups:
            group = resources.add_parser(command.resource, help=f"{command.resource} of the running gateway")
            groups[command.resource] = group.add_subparsers(dest="action", required=True)
        _add(groups[command.resource], command)
