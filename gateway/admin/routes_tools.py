"""The tools each server serves now, beside the state of their pins: ``GET /api/v1/tools``, what
the console's tools page and ``portcullis admin tools list`` show.

The lists are the gateway's last ones, as the servers sent them (before any guardrail): a tool
whose pin is ``changed`` or ``revoked`` is listed here but hidden from clients until approved.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from gateway.admin.http import Context, Op
from middleware.guardrails.pin_records import PREFIX, PinRecord


async def tool_pins(context: Context) -> dict[tuple[str, str], str]:
    """The state of every tool pin, by (server, tool name)."""
    found = await context.pins.scan(PREFIX)
    records = (PinRecord.loads(raw) for raw in found.values())
    return {(r.server, r.name): r.state() for r in records if r.kind == "tool"}


async def list_tools(context: Context, request: Request) -> Any:
    pins = await tool_pins(context)
    shown = []
    for server, served in sorted(context.target.served_tools().items()):
        tools = [
            {
                "name": entry.item.get("name"),
                "exposed": entry.key,
                "title": entry.item.get("title"),
                "description": entry.item.get("description"),
                "pin": pins.get((server, entry.item["name"])),
                "refused": entry.refused,
            }
            for entry in served or ()
        ]
        shown.append({"server": server, "listed": served is not None, "tools": tools})
    return shown


OPS = [
    Op("GET", "/tools", list_tools, "Each server's tools as last listed, with their pins' state", "tools"),
]
