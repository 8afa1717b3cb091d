"""DNS-rebinding defence: validate Host and Origin before anything else runs.

Loopback names are always allowed; anything else (the names an ingress presents, browser
origins) must be listed in settings. A bad Host gets 421, a bad Origin 403, as the spec asks.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from middleware.edge.refusals import log_refusal
from middleware.protocol.errors import ForbiddenOrigin, MisdirectedRequest
from middleware.protocol.http import ASGIApp, ASGIReceive, ASGIScope, ASGISend, header, send_error

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def _hostname(host: str) -> str:
    """Host header without its port; IPv6 literals keep their brackets."""
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if ":" in host else host


class HostOriginGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.hosts = {h.lower() for h in allowed_hosts}
        self.host_suffixes = tuple(h[1:] for h in self.hosts if h.startswith("*."))
        self.origins = {o.lower().rstrip("/") for o in allowed_origins}

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = (header(scope, b"host") or b"").decode("latin-1").lower()
        if not self._host_allowed(host):
            log_refusal(scope, 421, f"Host {host[:100]!r} is not allowed")
            await send_error(
                send,
                MisdirectedRequest(
                    f"Host {host!r} is not served here; if an ingress presents this name, add it "
                    "to http.allowed_hosts in settings"
                ),
            )
            return
        origin = header(scope, b"origin")
        if origin is not None:
            text = origin.decode("latin-1").lower().rstrip("/")
            if not self._origin_allowed(text):
                log_refusal(scope, 403, f"Origin {text[:100]!r} is not allowed")
                why = f"Origin {text!r} is not allowed; add it to http.allowed_origins in settings"
                await send_error(send, ForbiddenOrigin(why))
                return
        await self.app(scope, receive, send)

    def _host_allowed(self, host: str) -> bool:
        if not host:
            return False
        name = _hostname(host)
        if name in LOOPBACK_NAMES or host in self.hosts or name in self.hosts:
            return True
        return bool(self.host_suffixes) and name.endswith(self.host_suffixes)

    def _origin_allowed(self, origin: str) -> bool:
        if origin in self.origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and _hostname(parts.netloc) in LOOPBACK_NAMES
