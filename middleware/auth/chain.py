"""The contract every authenticator keeps, so that API keys, JWTs and third-party providers
chain in a configured order and a failing one never opens access."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from middleware.protocol import Principal
from middleware.protocol.http import ASGIScope


class AuthRefused(Exception):
    """The credential was recognised by an authenticator and is not good (expired, revoked,
    wrong audience, missing scope): the chain stops here and the request is refused."""

    def __init__(
        self,
        reason: str,
        *,
        status: int = 401,
        error: str = "invalid_token",
        scopes: Sequence[str] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        """401 (authenticate again) or 403 (authenticated, but the token lacks ``scopes``)."""
        self.error = error
        """The RFC 6750 error code for the WWW-Authenticate challenge."""
        self.scopes = tuple(scopes)


class Authenticator(Protocol):
    """One way in. ``authenticate`` answers a :class:`Principal` when the credential is its own
    and good, None when the credential is not its kind (the next one is asked), and raises
    :class:`AuthRefused` when it is its own and bad."""

    name: str

    async def authenticate(self, scope: ASGIScope) -> Principal | None: ...
