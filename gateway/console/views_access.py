"""The pages about access: logging in, and the client keys (made, rotated, revoked)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.console.html import Html, render, when
from gateway.console.pages import PREFIX, button, hidden, table


def login(csrf: str, *, needs_token: bool, refused: str | None) -> Html:
    """The login form, saying why the last try was ``refused`` if it was; without an admin token
    configured, a button (loopback only, as the API)."""
    said = render('<p class="note error" role="alert">$why</p>', why=refused) if refused else Html("")
    if needs_token:
        field = Html(
            '<label for="token">Admin token</label>'
            '<input type="password" id="token" name="token" autocomplete="off" required autofocus>'
        )
    else:
        field = Html(
            '<p class="note">No admin token is configured: like the admin API, the console is open to '
            "every process on this host (it listens on a loopback address only). Set one with "
            "<code>portcullis admin token</code>.</p>"
        )
    return render(
        '$said<form method="post" action="$action" class="login">$csrf$field'
        '<button type="submit" id="login">Log in</button></form>',
        said=said,
        action=f"{PREFIX}/login",
        csrf=hidden("csrf", csrf),
        field=field,
    )


def new_key(answer: Mapping[str, Any]) -> Html:
    """The key just made, shown this once."""
    return render(
        '<div class="secret" role="alert"><p>New key <strong>$id</strong> for $user. Copy it now: '
        "it is not shown again, and the gateway keeps only its hash.</p>"
        '<code id="new-key">$key</code></div>',
        id=answer.get("id", ""),
        user=answer.get("user", ""),
        key=answer.get("key", ""),
    )


CREATE = """<form method="post" action="$action" class="create">$csrf
<label for="user">User</label><input id="user" name="user" required>
<label for="key-name">Name</label><input id="key-name" name="name" placeholder="default">
<label for="days">Expires in (days)</label><input id="days" name="expires_days" inputmode="numeric">
<button type="submit" id="create-key">Create key</button></form>"""


def _actions(key: Mapping[str, Any], csrf: str) -> Html:
    ident = str(key["id"])
    if key.get("state") == "revoked":
        return Html("")
    rotate = button(
        f"{PREFIX}/keys/rotate",
        "Rotate",
        csrf,
        fields=[("id", ident), ("grace", "3600")],
        confirm=f"Make a new key for {ident}? The old one keeps working for an hour.",
    )
    revoke = button(
        f"{PREFIX}/keys/revoke",
        "Revoke",
        csrf,
        fields=[("id", ident)],
        confirm=f"Revoke {ident} for good?",
        css="danger",
    )
    return render("$rotate $revoke", rotate=rotate, revoke=revoke)


def keys(rows: Sequence[Mapping[str, Any]], csrf: str, *, shown: Mapping[str, Any] | None = None) -> Html:
    table_rows = [
        [
            k["id"],
            k["user"],
            k["name"],
            k["prefix"],
            render('<span class="state $s">$s</span>', s=k["state"]),
            k["source"],
            when(k.get("created")),
            when(k.get("expires")),
            _actions(k, csrf),
        ]
        for k in rows
    ]
    headings = ["Id", "User", "Name", "Starts with", "State", "Source", "Created", "Expires", ""]
    return render(
        "$shown<h2>New key</h2>$create<h2>Keys</h2>$table",
        shown=new_key(shown) if shown else Html(""),
        create=render(CREATE, action=f"{PREFIX}/keys", csrf=hidden("csrf", csrf)),
        table=table(headings, table_rows, css="keys", empty="No keys."),
    )
