"""The page around every view: the navigation, the messages of the last action, logging out;
and the small pieces views are made of (tables, buttons that post a form with the CSRF token)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from gateway.console.html import Html, esc, join, render

PREFIX: Final = "/console"
NAV: Final = (
    ("", "Overview"),
    ("/servers", "Servers"),
    ("/tools", "Tools and pins"),
    ("/decisions", "Decisions"),
    ("/sessions", "Sessions"),
    ("/keys", "Keys"),
)

PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title - Portcullis console</title>
<link rel="stylesheet" href="$prefix/static/console.css">
<script src="$prefix/static/console.js" defer></script>
</head>
<body>
<header>
<span class="brand">Portcullis</span>
<nav>$nav</nav>
$logout
</header>
<main>
<h1>$title</h1>
$notes
$body
</main>
</body>
</html>
"""


def page(title: str, body: Html, *, csrf: str | None, notes: Iterable[tuple[str, str]] = ()) -> Html:
    """A whole page; ``csrf`` None for the login page (no navigation, no logout)."""
    nav = join(
        render('<a href="$href">$label</a>', href=PREFIX + (path or "/"), label=label) for path, label in NAV
    )
    logout = button(f"{PREFIX}/logout", "Log out", csrf, css="logout") if csrf is not None else Html("")
    return render(
        PAGE,
        title=title,
        prefix=PREFIX,
        nav=nav if csrf is not None else Html(""),
        logout=logout,
        notes=join(render('<p class="note $kind" role="status">$text</p>', kind=k, text=t) for k, t in notes),
        body=body,
    )


def hidden(name: str, value: str) -> Html:
    return render('<input type="hidden" name="$name" value="$value">', name=name, value=value)


def button(
    action: str,
    label: str,
    csrf: str,
    *,
    fields: Sequence[tuple[str, str]] = (),
    confirm: str | None = None,
    css: str = "",
) -> Html:
    """A form of one button posting ``fields`` (and the CSRF token) to ``action``."""
    extra = join((hidden(name, value) for name, value in fields), "")
    asks = render(' data-confirm="$text"', text=confirm) if confirm else Html("")
    return render(
        '<form method="post" action="$action" class="inline $css"$asks>$csrf$extra'
        '<button type="submit">$label</button></form>',
        action=action,
        css=css,
        asks=asks,
        csrf=hidden("csrf", csrf),
        extra=extra,
        label=label,
    )


def table(
    headings: Sequence[str], rows: Iterable[Sequence[object]], *, css: str = "", empty: str = ""
) -> Html:
    """A table; every cell escaped unless it is Html already. ``empty`` says why there are no rows."""
    body = [
        render("<tr>$cells</tr>", cells=join((render("<td>$c</td>", c=cell) for cell in row), ""))
        for row in rows
    ]
    if not body:
        return render('<p class="empty">$text</p>', text=empty or "Nothing here yet.")
    head = join((render("<th>$h</th>", h=h) for h in headings), "")
    return render(
        '<table class="$css"><thead><tr>$head</tr></thead><tbody>$body</tbody></table>',
        css=css,
        head=head,
        body=join(body),
    )


def esc_all(values: Iterable[object]) -> list[Html]:
    return [esc(value) for value in values]
