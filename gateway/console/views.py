"""The body of each page, from what the admin API's handlers answered. Everything shown is
escaped (gateway.console.html): names, descriptions, reasons and targets come from upstream
servers and clients, which the operator does not control."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from gateway.console.html import Html, join, render, when
from gateway.console.metrics import HEADLINES
from gateway.console.pages import PREFIX, button, table
from middleware.guardrails.pin_records import PinRecord

DECISION_FIELDS: Final = ("verdict", "by", "principal", "project", "method", "server", "target", "reason")


def overview(numbers: Mapping[str, Any]) -> Html:
    cards = join(
        render(
            '<div class="card"><span class="label">$label</span>'
            '<span class="value" data-metric="$key">$value</span></div>',
            label=label,
            key=key,
            value="-" if numbers.get(key) is None else numbers[key],
        )
        for key, label in HEADLINES
    )
    off = (
        Html("")
        if numbers.get("enabled")
        else Html('<p class="note">Metrics are off ([telemetry.metrics] enabled = false).</p>')
    )
    return render(
        '$off<div class="cards" data-refresh="$url">$cards</div>'
        '<p class="hint">Refreshed every 5 seconds; counts since the gateway started.</p>',
        off=off,
        url=f"{PREFIX}/metrics.json",
        cards=cards,
    )


def servers(health: Mapping[str, Any], per_client: Mapping[str, bool], csrf: str) -> Html:
    rows = []
    for name, status in sorted(health.get("servers", {}).items()):
        detail = status.get("reason") or status.get("last_exit") or ""
        action: Html | str = (
            "one process per client session"
            if per_client.get(name)
            else button(f"{PREFIX}/servers/restart", "Restart", csrf, fields=[("name", name)])
        )
        state = render('<span class="state $s">$s</span>', s=status.get("state", "-"))
        rows.append([name, state, detail, action])
    overall = render('<p>Overall: <span class="state $s">$s</span></p>', s=health.get("status", "-"))
    return overall + table(["Server", "State", "Detail", ""], rows, empty="No servers are configured.")


def _about(definition: Mapping[str, Any] | None) -> str:
    if not definition:
        return ""
    return str(definition.get("description") or definition.get("title") or definition.get("uri") or "")


def _pin_actions(record: PinRecord, csrf: str) -> Html:
    fields = [("server", record.server), ("name", record.name), ("kind", record.kind)]
    actions = []
    if record.state() != "approved":
        actions.append(button(f"{PREFIX}/pins/approve", "Approve", csrf, fields=fields, css="approve"))
    if record.state() != "revoked":
        actions.append(
            button(
                f"{PREFIX}/pins/revoke",
                "Quarantine",
                csrf,
                fields=fields,
                confirm=f"Quarantine {record.kind} {record.name} of {record.server}?",
            )
        )
    return join(actions, " ")


NOT_LISTED: Final = "Not listed yet: the server has not started, or starts on first use."
NO_PINS: Final = (
    "Nothing pinned here yet. Definitions are pinned when the guardrails' pins are on (the default) "
    'with a store other than "memory", once a client lists them.'
)


def _served_table(tools: Sequence[Mapping[str, Any]]) -> Html:
    """What the server lists now: the name clients see, its description, its pin's state."""
    rows = [
        [
            t["exposed"],
            t.get("description") or t.get("title") or "",
            render('<span class="state $s">$s</span>', s=t["pin"] or "not pinned"),
            f"refused: {t['refused']}" if t.get("refused") else "",
        ]
        for t in tools
    ]
    headings = ["Tool (as clients see it)", "Description", "Pin", "Note"]
    return table(headings, rows, css="served", empty="It lists no tools.")


def _pins_table(records: Sequence[PinRecord], csrf: str) -> Html:
    rows = [
        [
            r.kind,
            r.name,
            render('<span class="state $s">$s</span>', s=r.state()),
            _about(r.approved_definition),
            _about(r.pending_definition),
            _pin_actions(r, csrf),
        ]
        for r in records
    ]
    headings = ["Kind", "Name", "State", "Approved description", "Now served (pending)", ""]
    return table(headings, rows, css="pins", empty=NO_PINS)


def tools(served: Sequence[Mapping[str, Any]], records: Sequence[PinRecord], csrf: str) -> Html:
    """Per server: the tools it lists now with their pins' state, then its pinned definitions
    (tools, prompts, resources) with the buttons that approve or quarantine them."""
    listed = {s["server"]: s for s in served}
    parts = []
    for server in sorted({*listed, *(r.server for r in records)}):
        now = listed.get(server)
        if now is None:  # pins of a server no longer configured
            shown = Html('<p class="note">Not configured any more.</p>')
        else:
            shown = (
                _served_table(now["tools"])
                if now["listed"]
                else render('<p class="note">$t</p>', t=NOT_LISTED)
            )
        pins = _pins_table([r for r in records if r.server == server], csrf)
        parts.append(
            render(
                "<h2>$server</h2><h3>Served now</h3>$shown<h3>Pinned definitions</h3>$pins",
                server=server,
                shown=shown,
                pins=pins,
            )
        )
    return join(parts) if parts else Html('<p class="empty">No servers are configured.</p>')


def decisions(records: Sequence[Mapping[str, Any]], *, everything: bool, kept: int) -> Html:
    links = render(
        '<p class="filters"><a href="$refusals">Refusals and changes</a> '
        '<a href="$all">Everything (allowed calls too)</a></p>',
        refusals=f"{PREFIX}/decisions",
        all=f"{PREFIX}/decisions?show=all",
    )
    rows = [
        [
            when(r.get("ts")),
            render('<span class="verdict $v">$v</span>', v=r.get("verdict", "-")),
            *(r.get(name, "-") for name in DECISION_FIELDS[1:]),
            r.get("session", "-"),
        ]
        for r in records
    ]
    headings = ["When (UTC)", "Verdict", "By", "Principal", "Project", "Method", "Server", "Target"]
    empty = f"No decision recorded yet (the last {kept} are kept in memory)."
    return links + table([*headings, "Reason", "Session"], rows, css="decisions", empty=empty)


def sessions(rows: Sequence[Mapping[str, Any]], csrf: str) -> Html:
    shown = [
        [
            s["id"],
            s["principal"],
            s["project"] or "-",
            s["endpoint"],
            f"{s['protocol_version']} ({s['era']})",
            f"{s['age_seconds']:.0f} s",
            f"{s['idle_seconds']:.0f} s",
            "yes" if s["live_here"] else "no",
            button(f"{PREFIX}/sessions/end", "End", csrf, fields=[("prefix", s["id"])]),
        ]
        for s in rows
    ]
    headings = ["Id (first 8)", "Principal", "Project", "Endpoint", "Protocol", "Age", "Idle", "Here", ""]
    return table(headings, shown, empty="No sessions.")
