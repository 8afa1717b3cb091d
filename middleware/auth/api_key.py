"""Authentication by API key, stored hashed: each key's SHA-256 maps to a principal.

Accepts ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. The key never travels past
this middleware: the principal does, and upstream requests carry their own credentials.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

from middleware.protocol import ANONYMOUS, PRINCIPAL_KEY, Principal
from middleware.protocol.errors import NotAuthenticated
from middleware.protocol.http import ASGIApp, ASGIReceive, ASGIScope, ASGISend, header, send_error

log = logging.getLogger("portcullis.http")

_CHALLENGE = [(b"www-authenticate", b'Bearer realm="portcullis"')]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def presented_key(scope: ASGIScope) -> str | None:
    authorization = header(scope, b"authorization")
    if authorization is not None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = header(scope, b"x-api-key")
    return api_key.decode("latin-1").strip() if api_key else None


def _log_refusal(scope: ASGIScope, reason: str) -> None:
    """One line per refused request, the same fields as the edge's; never the key itself."""
    client = scope.get("client")
    log.info(
        "refused %(method)s %(path)s status=%(status)d reason=%(reason)s client=%(client)s",
        {
            "method": scope["method"],
            "path": scope["path"][:200],
            "status": 401,
            "reason": reason,
            "client": f"{client[0]}:{client[1]}" if client else "-",
        },
    )


class ApiKeyAuth:
    def __init__(
        self,
        app: ASGIApp,
        *,
        key_hashes: Mapping[str, str],
        enabled: bool = True,
        public_paths: Iterable[str] = (),
        fallback: Callable[[ASGIScope], Awaitable[Principal | None]] | None = None,
    ) -> None:
        self.app = app
        self.fallback = fallback
        """Asked when no configured key matches (auth providers); None refuses as before."""
        self.principals = {digest: Principal(name) for digest, name in key_hashes.items()}
        self.enabled = enabled
        self.public_paths = frozenset(public_paths)

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.enabled:
            scope[PRINCIPAL_KEY] = ANONYMOUS
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        key = presented_key(scope)
        principal = self.principals.get(hash_key(key)) if key else None
        if principal is None and self.fallback is not None:
            principal = await self.fallback(scope)
        if principal is None:
            reason = "the API key is not valid" if key else "no API key was presented"
            _log_refusal(scope, reason)
            await send_error(
                send,
                NotAuthenticated(f"{reason}; send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"),
                headers=_CHALLENGE,
            )
            return
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)
