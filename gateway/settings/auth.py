"""``[auth]``: who may come in — API keys, OIDC bearer tokens and auth providers, in a set order —
and ``[auth.oidc]``, the issuer whose tokens this gateway accepts as an OAuth resource server."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from gateway.settings.base import _Strict, key_hash

ASYMMETRIC_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
"""What a token may be signed with: public-key algorithms only (never ``none``, never HS* — a
resource server that accepts HMAC could be fooled by a token "signed" with the public key)."""
Authenticator = Literal["api_keys", "oidc", "providers"]
_CLAIM = re.compile(r"^[A-Za-z0-9_:\-/.]+$")


def absolute_url(value: str, *, what: str) -> str:
    """``value`` if it is an http(s) URL with a host and no query or fragment; no trailing slash."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute http:// or https:// URL, e.g. https://mcp.example.com")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not have a query or a fragment")
    return value.rstrip("/") if parts.path not in ("", "/") else f"{parts.scheme}://{parts.netloc}"


class ApiKey(_Strict):
    """One API key of ``[auth]``, by its hash, and the principal it authenticates."""

    principal: str = Field(min_length=1, description="the caller this key authenticates as")
    sha256: str = Field(description="hex SHA-256 of the key; `portcullis keygen` makes one")

    @field_validator("sha256")
    @classmethod
    def _is_hash(cls, value: str) -> str:
        return key_hash(value)


class OidcSettings(_Strict):
    """The OIDC / OAuth 2.1 issuer whose JWT access tokens are accepted, and how their claims map."""

    issuer: str = Field(description="the issuer URL, exactly as the tokens' `iss` claim says it")
    audience: list[str] = Field(
        [],
        description="what a token's `aud` must name (RFC 8707); the resource URLs of this gateway's "
        "endpoints when empty",
    )
    jwks_url: str | None = Field(
        None, description="the JWKS; discovered from the issuer's metadata when unset"
    )
    algorithms: list[str] = Field(
        list(ASYMMETRIC_ALGORITHMS),
        min_length=1,
        description="signature algorithms accepted (public-key only)",
    )
    leeway: float = Field(30.0, ge=0, le=300, description="seconds of clock skew allowed on exp and nbf")
    required_scopes: list[str] = Field([], description="scopes every token must grant")
    scopes_supported: list[str] | None = Field(
        None, description="advertised in the resource metadata; the required scopes when unset"
    )
    user_claim: str = Field("sub", description="the claim that names the user (the principal)")
    project_claim: str | None = Field(None, description="the claim that names the caller's project")
    roles_claim: str | None = Field(None, description="a dotted path such as `realm_access.roles`")
    scope_claim: str = Field("scope", description="space-delimited string or list (`scp` is read too)")
    server_scopes: dict[str, list[str]] = Field(
        {}, description="extra scopes required on /servers/NAME/mcp, by server NAME"
    )
    jwks_max_age: float = Field(3600.0, gt=0, description="seconds before the JWKS is fetched again")
    jwks_min_refresh_interval: float = Field(
        30.0, ge=0, description="least seconds between two JWKS fetches caused by an unknown `kid`"
    )
    token_cache_size: int = Field(10_000, ge=0, description="verified tokens kept until they expire")

    @field_validator("audience", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        absolute_url(value, what="the issuer")
        return value  # compared with `iss` exactly as written

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url(cls, value: str | None) -> str | None:
        return None if value is None else absolute_url(value, what="jwks_url")

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        refused = [alg for alg in value if alg not in ASYMMETRIC_ALGORITHMS]
        if refused:
            raise ValueError(
                f"{', '.join(refused)} not allowed: tokens must be signed with a public-key algorithm, "
                f"one of {', '.join(ASYMMETRIC_ALGORITHMS)} (never `none` or HS*)"
            )
        return value

    @field_validator("user_claim", "project_claim", "roles_claim", "scope_claim")
    @classmethod
    def _claim_path(cls, value: str | None) -> str | None:
        if value is not None and (not _CLAIM.match(value) or "" in value.split(".")):
            raise ValueError("must be a claim name or a dotted path such as `realm_access.roles`")
        return value

    @field_validator("required_scopes", "scopes_supported")
    @classmethod
    def _scope_tokens(cls, value: list[str] | None) -> list[str] | None:
        for scope in value or []:
            _check_scope(scope)
        return value

    @field_validator("server_scopes")
    @classmethod
    def _server_scope_tokens(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for scopes in value.values():
            for scope in scopes:
                _check_scope(scope)
        return value


def _check_scope(scope: str) -> None:
    """RFC 6749 scope-token characters: printable ASCII but space, '"' and '\\'."""
    if not scope or any(ch in ' "\\' or not 0x21 <= ord(ch) <= 0x7E for ch in scope):
        raise ValueError(f"{scope!r} is not a scope: printable ASCII without spaces, quotes or backslashes")


class AuthSettings(_Strict):
    """Who may come in: API keys, OIDC bearer tokens and auth providers, asked in ``order``."""

    enabled: bool = Field(True, description="authenticate callers; off is refused on a non-loopback address")
    api_keys: list[ApiKey] = []
    public_paths: list[str] = Field(["/healthz", "/readyz"], description="paths served without a credential")
    order: list[Authenticator] = Field(
        ["api_keys", "oidc", "providers"],
        description="the order in which the ways in are asked; one not configured is skipped",
    )
    resource_url: str | None = Field(
        None,
        description="this gateway's public base URL (https://mcp.example.com): the resource "
        "metadata and the default token audience; taken from each request's Host when unset",
    )
    oidc: OidcSettings | None = None

    @field_validator("resource_url")
    @classmethod
    def _resource_url(cls, value: str | None) -> str | None:
        return None if value is None else absolute_url(value, what="resource_url")

    @field_validator("order")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or not value:
            raise ValueError("name each of api_keys, oidc, providers at most once (and at least one)")
        return value

    @model_validator(mode="after")
    def _oidc_is_ordered(self) -> AuthSettings:
        if self.oidc is not None and "oidc" not in self.order:
            raise ValueError("[auth.oidc] is configured but `oidc` is missing from auth.order; add it")
        return self
