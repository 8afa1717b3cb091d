"""What every console response and request goes through: security headers, then same-origin.

The admin API refuses every browser ``Origin`` (no page may call it). The console's own pages
post forms, and browsers send ``Origin`` with those: so here an ``Origin`` naming this very host
(the one in ``Host``) is accepted and taken off the request before the usual Host check, and any
other is refused, as is a form that the browser says comes from another site
(``Sec-Fetch-Site``). Clients that are not browsers send neither header; the session cookie
and the form's CSRF token still stand between them and every change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urlsplit

from middleware.edge.host_origin import HostOriginGuard
from middleware.protocol.http import ASGIApp, ASGIReceive, ASGIScope, ASGISend, header

CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: Final = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    # "same-origin", not "no-referrer": with no-referrer a browser sends "Origin: null" even on
    # the console's own forms, which could then not be told from anybody else's.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


def with_headers(app: ASGIApp) -> ASGIApp:
    """``app`` with :data:`HEADERS` on every response it starts (refusals included)."""

    async def headed(scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        async def send_headed(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                given = [h for h in _pairs(message.get("headers")) if h[0] not in dict(HEADERS)]
                message = {**message, "headers": given + HEADERS}
            await send(message)

        await app(scope, receive, send_headed)

    return headed


def _pairs(headers: object) -> list[tuple[bytes, bytes]]:
    return list(headers) if isinstance(headers, Iterable) else []


class SameOrigin:
    """Accept the console's own origin, refuse every other (see the module's docstring)."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str]) -> None:
        self.app = HostOriginGuard(app, allowed_hosts=allowed_hosts)

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        refusal = _refusal(scope) if scope["type"] == "http" else None
        if refusal is not None:
            await _refuse(send, refusal)
            return
        if scope["type"] == "http":
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"origin"]}
        await self.app(scope, receive, send)


def _refusal(scope: ASGIScope) -> str | None:
    """Why this request is not the console's own, or None."""
    host = (header(scope, b"host") or b"").decode("latin-1").lower()
    origin = header(scope, b"origin")
    if origin is not None:
        parts = urlsplit(origin.decode("latin-1").lower())
        if parts.scheme not in ("http", "https") or parts.netloc != host:
            return "a page of another origin may not use the console"
    site = header(scope, b"sec-fetch-site")
    if scope["method"] not in SAFE_METHODS and site is not None and site != b"same-origin":
        return "a form from another site may not change anything here"
    return None


async def _refuse(send: ASGISend, why: str) -> None:
    body = f"403 Forbidden: {why}\n".encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
