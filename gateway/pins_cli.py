"""``portcullis pins list | diff | approve | revoke``: the operator's side of rug-pull pinning.

Reads and writes the store of ``[guardrails] store`` (the SQLite file beside the settings, or
Redis), which the running gateway reads too: an approval takes effect within the pin guard's
``recheck_seconds`` (2 s by default) on every replica, without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import sys
from collections.abc import Callable
from typing import Any

import orjson

from gateway.guardrails import guardrail_store
from gateway.settings import SettingsError, find_settings_file, load_settings
from middleware.guardrails.pin_records import PREFIX, PinRecord, key_of
from middleware.guardrails.store import GuardrailStore


def _store(args: argparse.Namespace) -> GuardrailStore:
    settings = load_settings(find_settings_file(args.settings))
    return guardrail_store(settings)


async def _all(store: GuardrailStore) -> list[PinRecord]:
    found = await store.scan(PREFIX)
    return sorted((PinRecord.loads(raw) for raw in found.values()), key=lambda r: (r.server, r.kind, r.name))


async def _one(store: GuardrailStore, args: argparse.Namespace) -> PinRecord | None:
    for kind in (args.kind,) if args.kind else ("tool", "prompt", "resource"):
        raw = (await store.get_many([key_of(kind, args.server, args.name)]))[0]
        if raw is not None:
            return PinRecord.loads(raw)
    print(
        f"portcullis: no pin for {args.server} {args.name}; `portcullis pins list` shows them",
        file=sys.stderr,
    )
    return None


def _pretty(definition: dict[str, Any] | None) -> list[str]:
    if definition is None:
        return []
    text = orjson.dumps(definition, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    return text.splitlines(keepends=True)


async def _list(args: argparse.Namespace) -> int:
    records = await _all(_store(args))
    if not records:
        print("no pins yet (definitions are pinned when a client first lists them)")
    for record in records:
        if args.changed and record.state() == "approved":
            continue
        print(f"{record.server}\t{record.kind}\t{record.name}\t{record.state()}")
    return 0


async def _diff(args: argparse.Namespace) -> int:
    record = await _one(_store(args), args)
    if record is None:
        return 1
    if record.pending is None:
        print(f"{record.server} {record.name}: {record.state()}, no pending change")
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(
            _pretty(record.approved_definition),
            _pretty(record.pending_definition),
            "approved",
            "now served",
        )
    )
    return 0


async def _change(args: argparse.Namespace, change: Callable[[PinRecord], str]) -> int:
    """Read one pin, change it, write it back (the gateway reads it within its recheck time)."""
    store = _store(args)
    record = await _one(store, args)
    if record is None:
        return 1
    said = change(record)
    await store.set_many({record.key: record.dumps()})
    print(f"{said} {record.kind} {record.name} of server {record.server}")
    return 0


def _approved(record: PinRecord) -> str:
    record.approve()
    return "approved"


def _revoked(record: PinRecord) -> str:
    record.revoked = True
    return "revoked (quarantined until approved again)"


async def _approve(args: argparse.Namespace) -> int:
    return await _change(args, _approved)


async def _revoke(args: argparse.Namespace) -> int:
    return await _change(args, _revoked)


def _run(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            code: int = asyncio.run(handler(args))
        except SettingsError as error:
            print(error, file=sys.stderr)
            return 2
        return code

    return run


def add_commands(commands: Any) -> None:
    """``portcullis pins ...`` under the CLI's sub-commands."""
    pins = commands.add_parser("pins", help="list, diff, approve or revoke definition pins")
    actions = pins.add_subparsers(dest="action", required=True)
    for name, handler, about in (
        ("list", _list, "every pinned definition and its state"),
        ("diff", _diff, "what changed in a quarantined definition"),
        ("approve", _approve, "accept a changed (or new) definition"),
        ("revoke", _revoke, "quarantine a definition until approved again"),
    ):
        action = actions.add_parser(name, help=about)
        action.add_argument(
            "--settings", help="settings file (default: $PORTCULLIS_SETTINGS or ./settings.toml)"
        )
        if name == "list":
            action.add_argument("--changed", action="store_true", help="only definitions not approved")
        else:
            action.add_argument("server", help="the server's name in settings")
            action.add_argument("name", help="the tool's (prompt's, resource's) name on that server")
            action.add_argument("--kind", choices=["tool", "prompt", "resource"], help="when names clash")
        action.set_defaults(handler=_run(handler))
