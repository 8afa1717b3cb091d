"""Rug-pull pinning: a definition is pinned when first seen (or first approved), and any later
change quarantines it until an operator approves it again.

Unchanged tools keep working while a changed one is hidden from lists and refused on call. The
change may be announced (``list_changed``) or silent: every list is compared, so both are caught.
Pins live in the guardrail store, so every replica agrees; ``portcullis pins list | diff |
approve | revoke`` manages them.

``config:``: ``pin_on``: ``first_sight`` (default) or ``approval`` (a new definition waits for an
operator too); ``definitions``: ``block`` (default: quarantine), ``flag`` (keep, mark and log),
``off``; ``recheck_seconds``: how long a replica trusts what it read from the store (default 2).
"""

from __future__ import annotations

import time
from typing import Any

from middleware.guardrails.base import Action, log
from middleware.guardrails.definitions import DefinitionGuard, item_name, listed, pairs
from middleware.guardrails.pin_records import PinRecord, digest, key_of
from middleware.plugins import ListPayload, PluginContext, PluginResult


class PinGuard(DefinitionGuard):
    """Compares every listed definition with its pin."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known: dict[str, tuple[float, PinRecord | None]] = {}
        self._digests: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}

    def _digest(self, server: str, definition: dict[str, Any]) -> str:
        name = item_name(definition)
        cached = self._digests.get((server, name))
        if cached is not None and cached[0] is definition:
            return cached[1]
        value = digest(definition)
        self._digests[(server, name)] = (definition, value)
        return value

    async def _records(self, keys: list[str]) -> dict[str, PinRecord | None]:
        """The pins of ``keys``: from this replica's recent reads, the rest in one round trip."""
        now = time.monotonic()
        ttl = float(self.config.get("recheck_seconds", 2.0))
        found = {k: self._known[k][1] for k in keys if k in self._known and now - self._known[k][0] < ttl}
        missing = [k for k in keys if k not in found]
        if missing:
            for key, raw in zip(missing, await self.services.store.get_many(missing), strict=True):
                record = PinRecord.loads(raw) if raw is not None else None
                found[key] = record
                self._known[key] = (now, record)
        return found

    async def judge(self, kind: str, payload: ListPayload) -> dict[str, str]:
        """Name -> why it is quarantined, for the items of ``payload`` that do not match their pin."""
        wanted = [
            (item, owner, key_of(kind, *owner), self._digest(owner[0], item))
            for item, owner in pairs(payload)
            if owner is not None and self.action("definitions", Action.BLOCK, owner[0]) is not Action.OFF
        ]
        records = await self._records([key for _, _, key, _ in wanted])
        changed: dict[str, bytes] = {}
        quarantined: dict[str, str] = {}
        for item, owner, key, seen in wanted:
            record = records.get(key) or PinRecord(kind, owner[0], owner[1])
            why = self._compare(record, item, seen, changed)
            if why is not None:
                quarantined[item_name(item)] = why
        if changed:
            await self.services.store.set_many(changed)
            now = time.monotonic()
            for key, raw in changed.items():
                self._known[key] = (now, PinRecord.loads(raw))
        return quarantined

    def _compare(
        self, record: PinRecord, item: dict[str, Any], seen: str, changed: dict[str, bytes]
    ) -> str | None:
        """None when ``item`` matches its pin; else why not (recording what changed)."""
        where = f"{record.kind} {record.name!r} of server {record.server!r}"
        approve = f"an operator must approve it: portcullis pins approve {record.server} {record.name}"
        if record.revoked:
            return f"{where} is quarantined: its pin was revoked; {approve}"
        if record.approved == seen:
            return None
        if record.approved is None and self.config.get("pin_on", "first_sight") == "first_sight":
            record.approved, record.approved_definition, record.approved_at = seen, item, time.time()
            changed[record.key] = record.dumps()
            return None
        if record.pending != seen:
            record.pending, record.pending_definition, record.pending_since = seen, item, time.time()
            changed[record.key] = record.dumps()
            log.warning("guardrail %s: %s changed since it was approved; quarantined", self.name, where)
        if record.approved is None:
            return f"{where} is new and awaits approval; {approve}"
        return f"{where} changed since it was approved (a possible rug pull); {approve}"

    async def judge_list(self, kind: str, payload: ListPayload, context: PluginContext) -> PluginResult[Any]:
        action = self.action("definitions", Action.BLOCK)
        if action is Action.OFF:
            return PluginResult()
        quarantined = await self.judge(kind, payload)
        if not quarantined or action is not Action.BLOCK:
            return PluginResult()
        payload.hidden.update(quarantined)
        return listed(
            payload, [(item, owner) for item, owner in pairs(payload) if item_name(item) not in quarantined]
        )
