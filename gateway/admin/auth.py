"""The admin credential: a bearer token checked against one SHA-256, nothing else.

Client API keys, OIDC tokens and auth providers are never consulted here, and the admin token is
never one of the client keys (:func:`admin_hash` refuses that), so neither opens the other's door.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from gateway.admin.attempts import WrongAttempts, retry_after
from gateway.settings import Settings, SettingsError
from middleware.auth.api_key import hash_key
from middleware.protocol.http import ASGIApp, ASGIReceive, ASGIScope, ASGISend, send_json

TOKEN_PREFIX = "pca_"
REFUSAL = {
    "error": {
        "message": "the admin API needs the admin token",
        "fix": "send 'Authorization: Bearer <admin token>' (client API keys are not accepted here)",
    }
}


TOO_MANY = "too many wrong admin tokens from this address lately"


def new_admin_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def admin_hash(settings: Settings, client_hashes: set[str]) -> str | None:
    """The SHA-256 the admin token must have; None (loopback only) when no credential is set.
    Raises :class:`SettingsError` when the token cannot be read or is also a client key."""
    from upstream.pool.credential_refs import SecretMissing, resolve

    admin = settings.admin
    if admin.token is not None:
        try:
            token = resolve(admin.token.get_secret_value(), "admin.token", header=True).strip()
        except SecretMissing as exc:
            raise SettingsError("settings", [exc.detail]) from None
        if not token:
            raise SettingsError("settings", ["admin.token: the referenced token is empty; put one there"])
        expected: str | None = hash_key(token)
    else:
        expected = admin.token_sha256
    if expected is not None and expected in client_hashes:
        raise SettingsError(
            "settings",
            ["admin: the admin token is also a client API key; make another (`portcullis admin token`)"],
        )
    return expected


def _bearer(scope: ASGIScope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def peer_of(scope: Mapping[str, Any]) -> str:
    """The address a request came from, as the log and the attempt count name it."""
    client = scope.get("client")
    return str(client[0]) if client else "-"


class AdminAuth:
    """Refuse every request without the admin token (when one is configured), and an address
    that sent too many wrong ones lately (:mod:`gateway.admin.attempts`)."""

    def __init__(self, app: ASGIApp, *, sha256: str | None, attempts: WrongAttempts) -> None:
        self.app, self.sha256, self.attempts = app, sha256, attempts

    async def __call__(self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http" or self.sha256 is None:
            await self.app(scope, receive, send)
            return
        peer = peer_of(scope)
        wait = self.attempts.wait(peer)
        if wait > 0:
            seconds = retry_after(wait)
            body = {"error": {"message": TOO_MANY, "fix": f"wait {seconds} s, then send the right token"}}
            await send_json(send, 429, body, [(b"retry-after", seconds.encode())])
            return
        token = _bearer(scope)
        if token is None or not hmac.compare_digest(hash_key(token), self.sha256):
            if token is not None:
                self.attempts.failed(peer)
            await send_json(send, 401, REFUSAL, [(b"www-authenticate", b'Bearer realm="portcullis-admin"')])
            return
        await self.app(scope, receive, send)
