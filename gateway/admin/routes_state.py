"""Pins, the settings (export, validate, import) and backup/restore of the state store."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request

from gateway.admin.export import MASK, masked, to_toml
from gateway.admin.http import ApiError, Context, Op, body, field_of
from gateway.settings import Settings, SettingsError, explain
from middleware.auth.keys import TenancyStore
from middleware.guardrails.pin_records import PREFIX, PinRecord, key_of

BACKUP_FORMAT = "portcullis-state-backup/1"
KINDS = ("tool", "prompt", "resource")


async def pin_records(context: Context) -> list[PinRecord]:
    """Every pin in the store, by server, kind and name."""
    found = await context.pins.scan(PREFIX)
    return sorted((PinRecord.loads(raw) for raw in found.values()), key=lambda r: (r.server, r.kind, r.name))


async def list_pins(context: Context, request: Request) -> Any:
    records = await pin_records(context)
    return [{"server": r.server, "kind": r.kind, "name": r.name, "state": r.state()} for r in records]


async def _pin(context: Context, request: Request) -> PinRecord:
    data = await body(request)
    server, name = field_of(data, "server", str), field_of(data, "name", str)
    kind = field_of(data, "kind", str, None)
    for each in (kind,) if kind else KINDS:
        raw = (await context.pins.get_many([key_of(each, server, name)]))[0]
        if raw is not None:
            return PinRecord.loads(raw)
    raise ApiError(404, f"no pin for {server} {name}", "GET /api/v1/pins lists them")


async def _pin_changed(context: Context, request: Request, change: Callable[[PinRecord], None]) -> Any:
    record = await _pin(context, request)
    change(record)
    await context.pins.set_many({record.key: record.dumps()})
    return {"server": record.server, "kind": record.kind, "name": record.name, "state": record.state()}


async def approve_pin(context: Context, request: Request) -> Any:
    return await _pin_changed(context, request, PinRecord.approve)


async def revoke_pin(context: Context, request: Request) -> Any:
    def revoke(record: PinRecord) -> None:
        record.revoked = True

    return await _pin_changed(context, request, revoke)


async def export_config(context: Context, request: Request) -> Any:
    data = masked(context.target.settings)
    if request.query_params.get("format", "json") == "toml":
        return {"format": "toml", "text": to_toml(data)}
    return {"format": "json", "settings": data}


def _candidate(data: dict[str, Any]) -> Settings:
    """The settings sent (``toml`` text or a ``settings`` object), validated like a file."""
    if "toml" in data:
        try:
            document = tomllib.loads(field_of(data, "toml", str))
        except tomllib.TOMLDecodeError as exc:
            raise ApiError(400, f"not valid TOML: {exc}", "fix the TOML") from None
    else:
        document = field_of(data, "settings", dict)
    if _has_mask(document):
        raise ApiError(
            400,
            f"the settings hold masked values ({MASK!r}), as an export shows them",
            "put the secrets back, best as ${VAR} or file:/path references",
        )
    try:
        return Settings(**document)
    except ValidationError as exc:
        problems = "; ".join(explain(error) for error in exc.errors())
        raise ApiError(400, f"invalid settings: {problems}", "fix each key named, then send again") from None


def _has_mask(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_mask(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_mask(item) for item in value)
    return isinstance(value, str) and len(value) >= len(MASK) and value.strip("*") == ""  # ours or pydantic's


async def validate_config(context: Context, request: Request) -> Any:
    settings = _candidate(await body(request))
    return {"valid": True, "servers": sorted(settings.servers)}


async def import_config(context: Context, request: Request) -> Any:
    settings = _candidate(await body(request))
    reloader = context.parts.reloader
    if reloader is None:
        raise ApiError(
            501,
            "the settings are valid, but this gateway cannot apply settings at run time yet",
            "write them to the settings file and restart; hot reload arrives with issue 13's operations work",
        )
    try:
        await reloader.reload(settings)
    except SettingsError as exc:
        problems = "; ".join(exc.problems)
        raise ApiError(
            409, f"the reload was refused: {problems}", "fix what it names, then send again"
        ) from None
    return {"applied": True, "servers": sorted(settings.servers)}


async def backup(context: Context, request: Request) -> Any:
    version, rows = await context.tenancy.store.rows()
    pins = await context.pins.scan(PREFIX)
    return {
        "format": BACKUP_FORMAT,
        "created": time.time(),
        "tenancy_version": version,
        "tenancy": [{"kind": kind, "id": ident, "record": orjson.loads(raw)} for kind, ident, raw in rows],
        "pins": [orjson.loads(raw) for _, raw in sorted(pins.items())],
    }


def _restorable(data: dict[str, Any]) -> tuple[list[tuple[str, str, bytes]], list[PinRecord]]:
    if data.get("format") != BACKUP_FORMAT:
        raise ApiError(
            400, "not a Portcullis state backup", f"send what GET /api/v1/backup answered ({BACKUP_FORMAT})"
        )
    try:
        rows = [(r["kind"], r["id"], orjson.dumps(r["record"])) for r in field_of(data, "tenancy", list)]
        pins = [PinRecord.loads(orjson.dumps(p)) for p in field_of(data, "pins", list)]
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(
            400, f"the backup is damaged ({type(exc).__name__})", "send an unedited backup"
        ) from None
    return rows, pins


async def restore(context: Context, request: Request) -> Any:
    """Write every row of the backup; with ``replace``, first forget what it does not hold."""
    data = await body(request)
    rows, pins = _restorable(data)
    await context.applied(_write_rows(context.tenancy.store, rows, field_of(data, "replace", bool, False)))
    if pins:
        await context.pins.set_many({pin.key: pin.dumps() for pin in pins})
    return {"restored": {"tenancy": len(rows), "pins": len(pins)}}


async def _write_rows(store: TenancyStore, rows: list[tuple[str, str, bytes]], replace: bool) -> None:
    if replace:
        keep = {(kind, ident) for kind, ident, _ in rows}
        for kind, ident, _ in (await store.rows())[1]:
            if (kind, ident) not in keep:
                await store.write(kind, ident, None)
    for kind, ident, raw in rows:
        await store.write(kind, ident, raw)


SETTINGS_BODY = {
    "type": "object",
    "properties": {"toml": {"type": "string"}, "settings": {"type": "object"}},
}
PIN_BODY = {
    "type": "object",
    "properties": {"server": {"type": "string"}, "name": {"type": "string"}, "kind": {"enum": list(KINDS)}},
    "required": ["server", "name"],
}
OPS = [
    Op("GET", "/pins", list_pins, "Pinned definitions and their state", "pins"),
    Op("POST", "/pins/approve", approve_pin, "Approve a changed (or new) definition", "pins", PIN_BODY),
    Op("POST", "/pins/revoke", revoke_pin, "Quarantine a definition until approved again", "pins", PIN_BODY),
    Op(
        "GET",
        "/config",
        export_config,
        "The settings, secrets masked",
        "config",
        query={"format": "json or toml"},
    ),
    Op("POST", "/config/validate", validate_config, "Validate settings", "config", SETTINGS_BODY),
    Op(
        "POST",
        "/config/import",
        import_config,
        "Validate, then apply settings by reload",
        "config",
        SETTINGS_BODY,
    ),
    Op("GET", "/backup", backup, "The state store (tenancy and pins) as one JSON document", "backup"),
    Op(
        "POST",
        "/restore",
        restore,
        "Write a backup back into the state store",
        "backup",
        {
            "type": "object",
            "properties": {"format": {"const": BACKUP_FORMAT}, "replace": {"type": "boolean"}},
        },
    ),
]
