"""Each upstream's own credentials: headers whose values come from the environment or files,
an OAuth client-credentials token per server, or a token per user by RFC 8693 token exchange.

What reaches an upstream is what its settings give it, never the client's credential: the HTTP
tier consumes that. The one use of a client's token is as the *subject* of a token exchange,
made with the authorization server, never sent upstream: the upstream gets the exchanged token,
whose audience is itself. :class:`CallerContext` makes the caller known to that exchange; it
sits in the MCP tier only when a server uses token exchange.

One :class:`UpstreamCredentials` per upstream connection (see :func:`credentials_factory`):
secrets resolved when it connects (a rotated file is read at the next connection, or when the
upstream refuses the old value), tokens shared per server or per user.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal, Protocol

from middleware.protocol import FORBIDDEN, SUBJECT_TOKEN_KEY, MCPApp, Principal, Receive, Scope, Send
from middleware.protocol.errors import ClientError
from upstream.pool.credential_cache import TokenCache
from upstream.pool.credential_refs import SecretMissing, reads_files, resolve_all
from upstream.pool.oauth_client import (
    OAuthClientConfig,
    TokenEndpoint,
    client_credentials_form,
    token_exchange_form,
)
from upstream.transports.http_auth import CredentialsUnavailable, HttpAuth

log = logging.getLogger("portcullis.upstream")

Grant = Literal["client_credentials", "token_exchange"]


# --- who is calling -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    subject_token: str | None = field(default=None, repr=False)
    """The client's verified bearer token, for a token exchange only; never logged or sent."""


CALLER: ContextVar[Caller | None] = ContextVar("portcullis_upstream_caller", default=None)
"""The caller of the MCP call being served; tasks started for the call inherit it."""


class CallerContext:
    """MCP-tier app that makes the caller (and the verified token the JWT authenticator left in
    the HTTP scope) known to the per-user credentials of the upstreams this call reaches."""

    def __init__(self, app: MCPApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = scope["http"].get(SUBJECT_TOKEN_KEY)
        reset = CALLER.set(Caller(scope["principal"], token if isinstance(token, str) and token else None))
        try:
            await self.app(scope, receive, send)
        finally:
            CALLER.reset(reset)


class NeedsUserToken(ClientError):
    """The caller has no token to exchange for a per-user server's: the client must call with a
    bearer token from the identity provider (the server is fine)."""

    code = FORBIDDEN
    http_status = 403


def caller_with_token(server: str) -> Callable[[], None]:
    """``admit`` of a per-user server: refuses, before any session opens, a caller who
    authenticated without a token to exchange (an API key)."""

    def admit() -> None:
        caller = CALLER.get()
        if caller is not None and caller.subject_token is None:
            raise NeedsUserToken(
                f"server {server!r} acts as each user with a token exchanged for theirs (grant "
                "token_exchange), and this caller authenticated without a bearer token from the "
                "identity provider (an API key?); call it with a JWT the gateway verifies"
            )

    return admit


# --- tokens ---------------------------------------------------------------------------------


class TokenSource(Protocol):
    async def token(self) -> str: ...

    def drop(self, token: str) -> None:
        """The upstream refused ``token``."""
        ...


class ServerTokens:
    """OAuth client credentials: one token for the server, whoever calls."""

    def __init__(self, endpoint: TokenEndpoint) -> None:
        self._endpoint = endpoint
        config = endpoint.config
        self._cache = TokenCache(config.server, config.refresh_margin)

    async def token(self) -> str:
        return await self._cache.get(None, self._fetch)

    async def _fetch(self) -> object:
        return await self._endpoint.grant(client_credentials_form(self._endpoint.config))

    def drop(self, token: str) -> None:
        self._cache.drop(None, token)


class UserTokens:
    """RFC 8693 token exchange: one token per user, shared by every connection of that user."""

    def __init__(self, endpoint: TokenEndpoint) -> None:
        self.endpoint = endpoint
        self.cache = TokenCache(endpoint.config.server, endpoint.config.refresh_margin)

    async def token_for(self, user: Hashable, subject_token: str) -> str:
        config = self.endpoint.config

        async def exchange() -> object:
            return await self.endpoint.grant(token_exchange_form(config, subject_token))

        return await self.cache.get(user, exchange)


class CallerTokens:
    """The exchanged tokens of one upstream connection, which serves one principal (a
    ``per_client`` server: one upstream session per gateway session). Bound to the principal of
    its first call, whose token it always sends; it keeps the newest subject token that principal
    presented. Work the connection does outside a call of its own (closing it when idle, say) may
    run with another caller's context, inherited by a background task: that caller is ignored."""

    def __init__(self, users: UserTokens) -> None:
        self._users = users
        self._user: tuple[str | None, str] | None = None
        self._subject: str | None = None

    async def token(self) -> str:
        where = f"servers.{self._users.endpoint.config.server}.oauth"
        caller = CALLER.get()
        if caller is not None:
            user = (caller.principal.project, caller.principal.name)
            if self._user is None:
                self._user = user
            if user == self._user and caller.subject_token:
                self._subject = caller.subject_token
        if self._user is None or self._subject is None:
            raise CredentialsUnavailable(
                f"{where}: grant token_exchange needs the caller's bearer token from the identity "
                "provider, and this caller authenticated without one (an API key?); call with a JWT "
                "the gateway verifies, or use grant client_credentials"
            )
        return await self._users.token_for(self._user, self._subject)

    def drop(self, token: str) -> None:
        if self._user is not None:
            self._users.cache.drop(self._user, token)


# --- what a connection sends ----------------------------------------------------------------


class UpstreamCredentials:
    """:class:`~upstream.transports.http_auth.HttpAuth` of one upstream connection."""

    def __init__(
        self, server: str, references: Mapping[str, str], tokens: TokenSource | None, hint: str
    ) -> None:
        self._server = server
        self._references = dict(references)
        self._tokens = tokens
        self._hint = hint
        self._static: dict[str, str] | None = None
        self._token: str | None = None
        self._headers: Mapping[str, str] = {}

    @property
    def hint(self) -> str:
        return self._hint

    async def headers(self) -> Mapping[str, str]:
        static = self._static
        if static is None:
            static = self._static = await self._resolve()
        if self._tokens is None:
            return static
        token = await self._tokens.token()
        if token != self._token:
            self._token = token
            self._headers = {**static, "Authorization": f"Bearer {token}"}
        return self._headers

    async def refused(self, sent: Mapping[str, str]) -> bool:
        """A token is dropped (the retry fetches another); secrets are read again, and worth a
        retry only if they changed (a rotated file, say)."""
        if self._tokens is not None:
            self._tokens.drop(sent.get("Authorization", "").removeprefix("Bearer "))
            return True
        if not self._references:
            return False
        fresh = await self._resolve()
        changed = fresh != self._static
        self._static = fresh
        if changed:
            log.info("[%s] its credentials were refused and have changed since; retrying once", self._server)
        return changed

    async def _resolve(self) -> dict[str, str]:
        where = f"servers.{self._server}.headers"
        try:
            if reads_files(self._references):
                return await asyncio.to_thread(resolve_all, self._references, where, header=True)
            return resolve_all(self._references, where, header=True)
        except SecretMissing as exc:
            log.warning("[%s] %s", self._server, exc.detail)
            raise CredentialsUnavailable(exc.detail) from None


def credentials_factory(
    server: str,
    references: Mapping[str, str],
    oauth: OAuthClientConfig | None = None,
    grant: Grant = "client_credentials",
) -> Callable[[], HttpAuth] | None:
    """Makes the credentials of each new connection to ``server``, or None when it has none to
    manage (only literal headers). ``references``: its headers that name secrets."""
    if oauth is None:
        if not references:
            return None
        hint = f"check servers.{server}.headers and the secrets they name"
        return lambda: UpstreamCredentials(server, references, None, hint)
    hint = f"check servers.{server}.oauth (scope, audience, resource) against what the upstream expects"
    endpoint = TokenEndpoint(oauth)
    if grant == "client_credentials":
        tokens = ServerTokens(endpoint)
        return lambda: UpstreamCredentials(server, references, tokens, hint)
    users = UserTokens(endpoint)
    return lambda: UpstreamCredentials(server, references, CallerTokens(users), hint)
