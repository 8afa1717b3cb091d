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


def tools(records: Sequence[PinRecord], csrf: str) -> Html:
    if not records:
        return Html(
            '<p class="empty">No pins yet. Definitions are pinned when the guardrails\' pins are on '
            '(the default) with a store other than "memory", once a client lists them.</p>'
        )
    parts = []
    for server in sorted({r.server for r in records}):
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
            if r.server == server
        ]
        headings = ["Kind", "Name", "State", "Approved description", "Now served (pending)", ""]
        parts.append(render("<h2>$server</h2>", server=server) + table(headings, rows, css="pins"))
    return join(parts)


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
