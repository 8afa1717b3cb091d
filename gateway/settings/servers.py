"""Upstream servers: how each is started or reached, and restarted."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from gateway.settings.base import _Strict
from upstream.pool.credential_refs import reference_problem, secure_endpoint

SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class RestartSettings(_Strict):
    """How a crashed stdio server is restarted: with backoff, a bounded number of times."""

    backoff_initial: float = Field(0.5, gt=0, description="first delay between restarts, seconds")
    backoff_max: float = Field(30.0, gt=0, description="cap on the delay between restarts")
    max_restarts: int = Field(5, ge=0, description="restarts allowed within `window`")
    window: float = Field(60.0, gt=0, description="seconds over which crashes are counted")


class TlsSettings(_Strict):
    """TLS towards one HTTP upstream. Relative paths are relative to the settings file."""

    ca_bundle: str | None = Field(None, description="PEM file of CAs to trust instead of the system's")
    client_cert: str | None = Field(None, description="PEM client certificate, for mutual TLS")
    client_key: str | None = Field(None, description="PEM key of client_cert, if not in that file")
    verify: bool = Field(True, description="verify the server's certificate and name")

    @model_validator(mode="after")
    def _coherent(self) -> TlsSettings:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("`client_key` needs `client_cert`; add the certificate or remove the key")
        if not self.verify and self.ca_bundle is not None:
            raise ValueError("`ca_bundle` has no effect with `verify = false`; remove one of them")
        return self


class OAuthSettings(_Strict):
    """OAuth 2.0/2.1 towards one HTTP upstream: the gateway, a client of the upstream's
    authorization server, sends the token it gets there as ``Authorization: Bearer``."""

    grant: Literal["client_credentials", "token_exchange"] = Field(
        "client_credentials",
        description="one token for the server, or one per user by RFC 8693 exchange of the caller's JWT",
    )
    token_url: str | None = Field(None, description="the token endpoint; or give `issuer`")
    issuer: str | None = Field(None, description="finds the token endpoint in its RFC 8414 metadata")
    client_id: str = Field(min_length=1, description="the gateway's client id at the authorization server")
    client_secret: SecretStr | None = Field(
        None, description="best as `${VAR}` or `file:/path`; never shown, even when written here"
    )
    auth_method: Literal["client_secret_basic", "client_secret_post", "tls_client_auth"] = Field(
        "client_secret_basic", description="tls_client_auth: mutual TLS with client_cert (RFC 8705)"
    )
    client_cert: str | None = Field(None, description="PEM client certificate (absolute path)")
    client_key: str | None = Field(None, description="PEM key of client_cert, if not in that file")
    ca_bundle: str | None = Field(None, description="PEM CAs to trust for the authorization server")
    scope: str | None = Field(None, description="scopes asked for, space-delimited")
    audience: str | None = Field(None, description="the upstream's identifier, as the issuer knows it")
    resource: str | None = Field(None, description="RFC 8707 resource indicator: the upstream's URI")
    refresh_margin: float = Field(60.0, ge=0, description="seconds before expiry to fetch the next token")
    timeout: float = Field(10.0, gt=0, description="seconds for one request to the authorization server")
    max_attempts: int = Field(3, ge=1, le=10, description="tries of a failing token request")
    backoff_initial: float = Field(0.5, gt=0, description="first wait between tries; doubles, jittered")
    backoff_max: float = Field(8.0, gt=0, description="cap on the wait between tries")

    @model_validator(mode="after")
    def _coherent(self) -> OAuthSettings:
        problem = self._endpoint_problem() or self._authentication_problem()
        if problem is not None:
            raise ValueError(problem)
        return self

    def _endpoint_problem(self) -> str | None:
        if (self.token_url is None) == (self.issuer is None):
            return "set exactly one of `token_url` or `issuer` (discovery by RFC 8414 metadata)"
        key, url = ("token_url", self.token_url) if self.token_url else ("issuer", self.issuer)
        assert url is not None
        if not secure_endpoint(url):
            return f"`{key}` must be an https:// URL (plain http:// only to a loopback address)"
        if self.auth_method == "tls_client_auth" and not url.startswith("https://"):
            return f"auth_method tls_client_auth needs an https:// `{key}`"
        return None

    def _authentication_problem(self) -> str | None:
        mtls = self.auth_method == "tls_client_auth"
        if mtls and self.client_cert is None:
            return "auth_method tls_client_auth needs `client_cert` (and `client_key`, if apart)"
        if mtls and self.client_secret is not None:
            return "auth_method tls_client_auth authenticates by certificate; remove `client_secret`"
        if not mtls and self.client_secret is None:
            return f"auth_method {self.auth_method} needs `client_secret` (best as ${{VAR}} or file:/path)"
        if self.client_key is not None and self.client_cert is None:
            return "`client_key` needs `client_cert`; add the certificate or remove the key"
        for key in ("client_cert", "client_key", "ca_bundle"):
            path = getattr(self, key)
            if path is not None and not path.startswith("/"):
                return f"`{key}` needs an absolute path ({path!r} is relative)"
        problem = reference_problem(self.client_secret.get_secret_value() if self.client_secret else "")
        return f"client_secret: {problem}" if problem else None


HTTP_ONLY_KEYS = ("transport", "timeout", "sse_read_timeout", "tls", "oauth")


class ServerSettings(_Strict):
    """One upstream MCP server: a stdio ``command``, or an HTTP ``url``."""

    command: str | None = Field(None, description="program of a stdio server (or give `url`)")
    args: list[str] = Field([], description="its arguments")
    env: dict[str, str] = Field(
        {}, description="added to its environment; values may be ${VAR} or file:/path"
    )
    cwd: str | None = Field(None, description="its working directory")
    url: str | None = Field(None, description="endpoint of an HTTP server (or give `command`)")
    headers: dict[str, str] = Field(
        {}, description="sent with every request to this server only; values may be ${VAR} or file:/path"
    )
    transport: Literal["auto", "streamable-http", "sse"] = Field(
        "auto", description="HTTP transport; auto tries streamable HTTP, then 2024-11-05 HTTP+SSE"
    )
    timeout: float = Field(
        30.0, gt=0, description="seconds to connect, and for a whole non-streamed answer (POST to last byte)"
    )
    sse_read_timeout: float = Field(300.0, gt=0, description="seconds an SSE stream may stay silent")
    tls: TlsSettings | None = None
    oauth: OAuthSettings | None = Field(None, description="OAuth 2.0/2.1 token for this server")
    session_mode: Literal["shared", "per_client"] = Field(
        "shared", description="one upstream session for all clients, or one per gateway session"
    )
    max_message_bytes: int = Field(64 * 1024 * 1024, gt=0, description="largest message accepted")
    prefix: str | None = Field(None, description="namespace of its tools and prompts")
    era: Literal["auto", "legacy", "modern"] = Field(
        "auto",
        description="protocol era: auto probes with server/discover and falls back to initialize; "
        "legacy always initializes (2025-11-25 and earlier); modern only speaks 2026-07-28",
    )
    start: Literal["lazy", "eager"] = Field("lazy", description="lazy: started on first use; eager: at start")
    startup_timeout: float = Field(30.0, gt=0, description="seconds to start and initialize")
    restart: RestartSettings = RestartSettings()

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL, e.g. https://mcp.example.com/mcp")
        return value

    @field_validator("headers")
    @classmethod
    def _headers_are_ours(cls, value: dict[str, str]) -> dict[str, str]:
        from upstream.transports.http_support import MANAGED_HEADERS  # here: aiohttp is slow to import

        managed = sorted(name for name in value if name.lower() in MANAGED_HEADERS)
        if managed:
            raise ValueError(f"{', '.join(managed)}: the gateway sets these itself; remove them")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> ServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("set exactly one of `command` (a stdio server) or `url` (an HTTP server)")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("`args`, `env` and `cwd` apply to stdio servers; remove them or use `command`")
        if self.command is not None and self.headers:
            raise ValueError("`headers` apply to HTTP servers; remove them or use `url`")
        if self.command is not None:
            misplaced = [key for key in HTTP_ONLY_KEYS if key in self.model_fields_set]
            if misplaced:
                keys = ", ".join(f"`{key}`" for key in misplaced)
                raise ValueError(f"{keys} apply to HTTP servers; remove them or use `url`")
        if self.era == "modern" and self.url is not None and self.transport == "sse":
            raise ValueError(
                '`era = "modern"` cannot use `transport = "sse"` (2024-11-05 HTTP+SSE has no 2026-07-28 '
                'requests); use transport "auto" or "streamable-http"'
            )
        if self.tls is not None and self.url is not None and not self.url.startswith("https://"):
            raise ValueError("`tls` applies to https:// URLs; use https:// or remove `tls`")
        return self

    @model_validator(mode="after")
    def _credentials(self) -> ServerSettings:
        """Secret references well formed, and credentials that do not contradict each other.
        Said at the model's level: a field's error would quote the value, maybe a secret."""
        for table, values in (("headers", self.headers), ("env", self.env)):
            for key, value in values.items():
                problem = reference_problem(value)
                if problem is not None:
                    raise ValueError(f"`{table}.{key}`: {problem}")
        if self.oauth is None:
            return self
        if any(name.lower() == "authorization" for name in self.headers):
            raise ValueError("`oauth` sets the Authorization header; remove it from `headers`")
        if self.oauth.grant == "token_exchange" and self.session_mode != "per_client":
            raise ValueError(
                'grant "token_exchange" gives each user their own upstream token, so each user needs '
                'their own upstream session: set session_mode = "per_client"'
            )
        return self
