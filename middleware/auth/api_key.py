"""API keys, stored hashed: the helpers every key authenticator shares.

A key is presented as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, and only its
SHA-256 is ever compared or stored. The key never travels past the HTTP tier: the principal does,
and upstream requests carry their own credentials.
"""

from __future__ import annotations

import hashlib

from middleware.protocol.http import ASGIScope, header


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
