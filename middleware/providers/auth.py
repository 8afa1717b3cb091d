"""Auth providers in the HTTP tier, after the built-in API keys: a request whose key the gateway
does not know is given to the provider, whose successful ``AuthResult`` becomes the principal
(user, project, roles, permissions). A failing provider refuses the request: never open access.

Credentials are read the way Enkrypt's clients send them: the key in an ``apikey`` header (or
``x-api-key``) or as ``Authorization: Bearer``; a bearer token is also ``access_token``; every
request header is in ``headers`` under its usual capitalisation and lower case.
"""

from __future__ import annotations

import logging
from typing import Any

from middleware.protocol import Principal
from middleware.protocol.http import ASGIScope
from middleware.providers.models import AuthCredentials

log = logging.getLogger("portcullis.http")

_CAPITALISED = {"authorization": "Authorization", "apikey": "apikey", "x-api-key": "X-API-Key"}


def credentials(scope: ASGIScope) -> AuthCredentials:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers.setdefault(name, value)
        headers.setdefault(_CAPITALISED.get(name, name.title()), value)
    bearer = None
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        bearer = token.strip()
    key = headers.get("apikey") or headers.get("x-api-key") or bearer
    return AuthCredentials(
        api_key=key,
        gateway_key=key,
        access_token=bearer,
        session_id=headers.get("mcp-session-id"),
        headers=headers,
    )


class ProviderAuth:
    """Asks each auth provider in turn; the first that authenticates names the principal."""

    def __init__(self, providers: list[Any]) -> None:
        self.providers = providers

    async def principal_for(self, scope: ASGIScope) -> Principal | None:
        presented = credentials(scope)
        for provider in self.providers:
            try:
                result = await provider.authenticate(presented)
            except Exception:  # boundary: a provider's bug refuses the request, it does not open it
                log.warning(
                    "auth provider %s failed; refusing the request", type(provider).__name__, exc_info=False
                )
                continue
            if getattr(result, "authenticated", False) and getattr(result, "user_id", None):
                permissions = ",".join(str(p) for p in result.permissions or [])
                return Principal(
                    str(result.user_id),
                    attributes={"permissions": permissions} if permissions else {},
                    project=str(result.project_id) if result.project_id else None,
                    roles=frozenset(str(role) for role in result.roles or []),
                )
        return None
