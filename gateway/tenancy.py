"""Projects, users and API keys from settings and the state store (issue 12: stub until built)."""

from __future__ import annotations

from middleware.auth.api_key import hash_key, presented_key
from middleware.protocol import Principal
from middleware.protocol.http import ASGIScope


class _SettingsKeys:
    name = "api_keys"

    def __init__(self, key_hashes: dict[str, str]) -> None:
        self.principals = {digest: Principal(name) for digest, name in key_hashes.items()}

    async def authenticate(self, scope: ASGIScope) -> Principal | None:
        key = presented_key(scope)
        return self.principals.get(hash_key(key)) if key else None


class Tenancy:
    def __init__(self, key_hashes: dict[str, str]) -> None:
        self.authenticator = _SettingsKeys(key_hashes)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
