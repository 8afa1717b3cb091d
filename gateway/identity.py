"""The HTTP tier's authentication, built from settings (issue 12: stub until built)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import Route

from gateway.providers import auth_fallback
from gateway.settings import Settings
from gateway.tenancy import Tenancy
from middleware.auth.api_key import ApiKeyAuth
from middleware.protocol.http import ASGIApp


def authentication(
    settings: Settings, app: ASGIApp, *, tenancy: Tenancy, endpoint_paths: Sequence[str]
) -> ASGIApp:
    """``app`` behind every configured way in, in the configured order."""
    return ApiKeyAuth(
        app,
        key_hashes={},
        enabled=settings.auth.enabled,
        public_paths=settings.auth.public_paths,
        fallback=_chain(tenancy, settings),
    )


def _chain(tenancy: Tenancy, settings: Settings):  # type: ignore[no-untyped-def]
    fallback = auth_fallback(settings)

    async def ask(scope):  # type: ignore[no-untyped-def]
        found = await tenancy.authenticator.authenticate(scope)
        if found is None and fallback is not None:
            found = await fallback(scope)
        return found

    return ask


def metadata_routes(settings: Settings, endpoint_paths: Sequence[str]) -> list[Route]:
    """The OAuth protected-resource metadata documents (RFC 9728); none until OIDC is built."""
    return []
