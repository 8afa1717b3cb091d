"""What each page reads before it is drawn: the admin API's handlers, the pin store, the recent
audit records and the metrics registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request

from gateway.admin import routes_runtime, routes_state, routes_tenancy, routes_tools
from gateway.admin.http import Context
from gateway.audit import RECENT
from gateway.console import ops, views, views_access
from gateway.console.html import Html
from gateway.console.metrics import headline
from gateway.console.session import Session

if TYPE_CHECKING:
    from gateway.console.app import Console


def numbers(context: Context) -> dict[str, Any]:
    """The headline numbers; the live sessions counted here when metrics are off."""
    shown = headline(context.parts.metrics)
    if shown["sessions"] is None:
        shown["sessions"] = len(context.target.live.ids())
    return shown


async def overview(console: Console, session: Session, request: Request) -> Html:
    return views.overview(numbers(console.context))


async def servers(console: Console, session: Session, request: Request) -> Html:
    target = console.context.target
    health, _ = target.health()
    per_client = {name: s.spec.per_client for name, s in target.supervisors.items()}
    return views.servers(health, per_client, session.csrf)


async def tools(console: Console, session: Session, request: Request) -> Html:
    records = await routes_state.pin_records(console.context)  # one read for both tables
    served = routes_tools.tools_with_pins(console.context.target, records)
    return views.tools(served, records, session.csrf)


async def decisions(console: Console, session: Session, request: Request) -> Html:
    context = console.context
    everything = request.query_params.get("show") == "all"
    recent = context.parts.audit.recent() if context.parts.audit is not None else []
    shown = [r for r in recent if everything or r.get("verdict") != "allow"]
    body = views.decisions(shown, everything=everything, kept=RECENT)
    if not context.target.settings.telemetry.audit.enabled:
        return Html('<p class="note">The audit trail is off ([telemetry.audit] enabled = false).</p>') + body
    return body


async def sessions(console: Console, session: Session, request: Request) -> Html:
    rows = await ops.call(console.context, routes_runtime.list_sessions)
    return views.sessions(rows, session.csrf)


async def keys(console: Console, session: Session, request: Request) -> Html:
    rows = await ops.call(console.context, routes_tenancy.list_keys)
    return views_access.keys(rows, session.csrf)


SCREENS: Final = (
    ("/", "Overview", overview),
    ("/servers", "Servers", servers),
    ("/tools", "Tools and pins", tools),
    ("/decisions", "Recent decisions", decisions),
    ("/sessions", "Sessions", sessions),
    ("/keys", "Keys", keys),
)
"""(path, title, what draws it) of each page."""
