"""The HTTP tier's authentication, built from ``[auth]``: API keys (tenancy), OIDC bearer tokens
and the auth providers, chained in ``auth.order``; and the OAuth protected-resource metadata
documents (RFC 9728) that tell MCP clients which issuer to get a token from."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from starlette.routing import Route

from gateway.providers import auth_fallback
from gateway.settings import Settings, is_loopback
from gateway.settings.auth import OidcSettings
from gateway.tenancy import Tenancy
from middleware.auth.authenticate import Authenticate
from middleware.auth.chain import Authenticator
from middleware.auth.jwks import JwksCache
from middleware.auth.oidc import ClaimMapping, OidcAuthenticator
from middleware.auth.resource_metadata import MetadataDocument, ProtectedResource, metadata_paths
from middleware.protocol import Principal
from middleware.protocol.http import ASGIApp, ASGIScope
from middleware.protocol.operations import OPERATIONS

log = logging.getLogger("portcullis")


class _Providers:
    """The Enkrypt-style auth providers as one authenticator (they never refuse: None or a name)."""

    name = "providers"

    def __init__(self, ask: Callable[[ASGIScope], Awaitable[Principal | None]]) -> None:
        self.ask = ask
        OPERATIONS.wire("auth")  # reported from now on, zeros until a provider is asked

    async def authenticate(self, scope: ASGIScope) -> Principal | None:
        async with OPERATIONS.track("auth"):  # counted per operation type (middleware.protocol.operations)
            return await self.ask(scope)


def protected_resource(settings: Settings, endpoint_paths: Sequence[str]) -> ProtectedResource | None:
    """This gateway as an OAuth resource server; None when no issuer is configured."""
    oidc = settings.auth.oidc
    if oidc is None:
        return None
    return ProtectedResource(
        authorization_servers=(oidc.issuer,),
        base_url=settings.auth.resource_url,
        required_scopes=tuple(oidc.required_scopes),
        path_scopes={
            f"/servers/{name}/mcp": tuple(scopes)
            for name, scopes in oidc.server_scopes.items()
            if f"/servers/{name}/mcp" in endpoint_paths
        },
        scopes_supported=tuple(oidc.scopes_supported) if oidc.scopes_supported is not None else None,
    )


def oidc_authenticator(oidc: OidcSettings, resource: ProtectedResource) -> OidcAuthenticator:
    keys = JwksCache(
        oidc.issuer,
        jwks_url=oidc.jwks_url,
        max_age=oidc.jwks_max_age,
        min_refresh_interval=oidc.jwks_min_refresh_interval,
    )
    return OidcAuthenticator(
        issuer=oidc.issuer,
        keys=keys,
        resource=resource,
        audiences=oidc.audience,
        algorithms=oidc.algorithms,
        leeway=oidc.leeway,
        claims=ClaimMapping(oidc.user_claim, oidc.project_claim, oidc.roles_claim, oidc.scope_claim),
        cache_size=oidc.token_cache_size,
    )


def authenticators(
    settings: Settings, tenancy: Tenancy, resource: ProtectedResource | None
) -> list[Authenticator]:
    """The configured ways in, in ``auth.order``; one not configured is left out."""
    chain: list[Authenticator] = []
    for name in settings.auth.order:
        if name == "api_keys":
            chain.append(tenancy.authenticator)
        elif name == "oidc" and settings.auth.oidc is not None and resource is not None:
            chain.append(oidc_authenticator(settings.auth.oidc, resource))
        elif name == "providers":
            providers = auth_fallback(settings)
            if providers is not None:
                chain.append(_Providers(providers))
    return chain


def authentication(
    settings: Settings, app: ASGIApp, *, tenancy: Tenancy, endpoint_paths: Sequence[str]
) -> ASGIApp:
    """``app`` behind every configured way in, in the configured order."""
    resource = protected_resource(settings, endpoint_paths)
    public = [*settings.auth.public_paths]
    if resource is not None:
        public += metadata_paths(endpoint_paths)
    for warning in identity_warnings(settings):
        log.warning("%s", warning)
    return Authenticate(
        app,
        authenticators=authenticators(settings, tenancy, resource),
        enabled=settings.auth.enabled,
        public_paths=public,
        resource=resource,
    )


def metadata_routes(settings: Settings, endpoint_paths: Sequence[str]) -> list[Route]:
    """The OAuth protected-resource metadata documents (RFC 9728), when an issuer is configured:
    the root one for /mcp and the per-path one of every endpoint."""
    resource = protected_resource(settings, endpoint_paths)
    if resource is None:
        return []
    return [
        Route(path, MetadataDocument(resource, endpoint), methods=["GET", "HEAD"])
        for path, endpoint in metadata_paths(endpoint_paths).items()
    ]


def identity_warnings(settings: Settings) -> list[str]:
    """What works but deserves a look, for ``portcullis check`` and the start-up log."""
    auth = settings.auth
    warnings: list[str] = []
    if auth.oidc is None:
        return warnings
    if auth.resource_url is None and not is_loopback(settings.host):
        warnings.append(
            f"auth.resource_url is unset while listening on {settings.host!r}: the resource metadata "
            "and the token audience are taken from each request's Host header; set it to the public "
            "URL clients use (e.g. https://mcp.example.com)"
        )
    unknown = sorted(set(auth.oidc.server_scopes) - set(settings.servers))
    if unknown:
        warnings.append(
            f"auth.oidc.server_scopes names servers that are not configured: {', '.join(unknown)}"
        )
    if not auth.enabled:
        warnings.append("[auth.oidc] is configured but auth.enabled = false: no token is checked")
    return warnings
