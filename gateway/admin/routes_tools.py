"""The tools each server serves now, beside the state of their pins: ``GET /api/v1/tools``, what
the console's tools page and ``portcullis admin tools list`` show.

The lists are the gateway's last ones, as the servers sent them (before any guardrail): a tool
whose pin is ``changed`` or ``revoked`` is listed here even while the pin guard hides it from
clients (every preset but ``audit``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request

from gateway.admin.http import Context, Op
from gateway.admin.ports import AdminTarget
from gateway.admin.routes_state import pin_records
from middleware.guardrails.pin_records import PinRecord


def tools_with_pins(target: AdminTarget, records: Sequence[PinRecord]) -> list[dict[str, Any]]:
    """Per server (by name): whether it has listed its tools yet, and each as it last listed
    it, with the state of its pin (None: not pinned)."""
    pins = {(r.server, r.name): r.state() for r in records if r.kind == "tool"}
    shown = []
    for server, served in sorted(target.served_tools().items()):
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


async def list_tools(context: Context, request: Request) -> Any:
    return tools_with_pins(context.target, await pin_records(context))


OPS = [
    Op("GET", "/tools", list_tools, "Each server's tools as last listed, with their pins' state", "tools"),
]
