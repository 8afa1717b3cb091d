"""HTML built from templates whose every value is escaped unless it is already :class:`Html`.

What the console shows comes from untrusted places (servers' names and tool descriptions,
clients' tool names, audit reasons): escaping by default, rather than at each use, is what keeps
a forgotten call from becoming a script on an operator's page.
"""

from __future__ import annotations

import html
import string
import time
from collections.abc import Iterable


class Html(str):
    """Markup that is safe to write as is: made by :func:`render` or :func:`join` from escaped parts."""

    __slots__ = ()

    def __add__(self, other: str) -> Html:
        """Html followed by ``other`` (escaped, unless it is Html too)."""
        return Html(str.__add__(self, esc(other)))


def esc(value: object) -> Html:
    """``value`` as text in HTML (quotes too, so it is safe in an attribute); Html stays."""
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def render(template: str, **values: object) -> Html:
    """``template`` (``$name`` placeholders) with every value escaped."""
    return Html(string.Template(template).substitute({name: esc(v) for name, v in values.items()}))


def join(parts: Iterable[Html], separator: str = "\n") -> Html:
    return Html(separator.join(esc(part) for part in parts))


def when(seconds: float | None) -> str:
    """A time as the console shows it: UTC, to the second; "-" for none."""
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
