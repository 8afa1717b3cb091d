"""The gateway as an OAuth 2.0/2.1 client of one upstream's authorization server: where the token
endpoint is (configured, or read from the issuer's RFC 8414 metadata), how the gateway proves
who it is there (``client_secret_basic``, ``client_secret_post``, or RFC 8705
``tls_client_auth`` with a client certificate), and one token request, retried with
exponential backoff and jitter when the endpoint fails in a way that may pass.

Cold path, on httpx2 (a token is fetched once per lifetime, not per request). From authlib, its
framework-independent pieces: ``prepare_token_request`` (the form body), ``get_well_known_url``
(RFC 8414 section 3.1, path-aware) and ``OAuth2Token`` (expiry). Client authentication is written
here: authlib's basic encoder skips the form-encoding RFC 6749 section 2.3.1 asks for, and its
``ClientAuth`` has no ``tls_client_auth``; its httpx integration needs the ``httpx`` module,
which the gateway does not install. No secret and no token is ever logged or put in an error.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar
from urllib.parse import quote

import httpx2
from authlib.oauth2.rfc6749 import OAuth2Token  # type: ignore[import-untyped, unused-ignore]
from authlib.oauth2.rfc6749.parameters import prepare_token_request  # type: ignore[import-untyped, unused-ignore]
from authlib.oauth2.rfc8414 import get_well_known_url  # type: ignore[import-untyped, unused-ignore]

from upstream.pool.credential_refs import FILE_PREFIX, SecretMissing, resolve, secure_endpoint
from upstream.transports.http_auth import CredentialsUnavailable
from upstream.transports.http_support import tls_context

log = logging.getLogger("portcullis.upstream")

GRANT_CLIENT_CREDENTIALS: Final = "client_credentials"
GRANT_TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"

AuthMethod = Literal["client_secret_basic", "client_secret_post", "tls_client_auth"]
T = TypeVar("T")

_FIXES: Final = {
    "invalid_client": "check client_id, client_secret and auth_method",
    "invalid_scope": "check scope: the authorization server does not grant it to this client",
    "invalid_target": "check audience and resource: the server issues this client no token for it",
    "invalid_grant": "the authorization server did not accept the grant (for token_exchange: the "
    "caller's token; it may have expired or have another issuer)",
    "unauthorized_client": "the authorization server does not allow this grant to this client",
    "unsupported_grant_type": "the authorization server does not support this grant",
}


@dataclass(frozen=True, slots=True)
class OAuthClientConfig:
    """One upstream's OAuth client settings (mapped from ``[servers.NAME.oauth]``)."""

    server: str
    client_id: str
    token_url: str | None = None
    issuer: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    """As written in settings: a literal, ``${VAR}`` or ``file:/path`` (read at each fetch)."""
    auth_method: AuthMethod = "client_secret_basic"
    scope: str | None = None
    audience: str | None = None
    resource: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    ca_bundle: str | None = None
    timeout: float = 10.0
    max_attempts: int = 3
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    refresh_margin: float = 60.0

    @property
    def where(self) -> str:
        return f"servers.{self.server}.oauth"


def backoff(attempt: int, initial: float, ceiling: float) -> float:
    """Exponential with equal jitter: half the step for sure, half at random, so that replicas
    that failed together do not come back together."""
    step = min(ceiling, initial * float(2 ** (attempt - 1)))
    return step / 2 + random.uniform(0, step / 2)


def basic_credentials(client_id: str, secret: str) -> str:
    """``client_secret_basic``: id and secret form-encoded first (RFC 6749 section 2.3.1)."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


class _Retry(Exception):
    """A failure another attempt may not meet (the endpoint is down, busy or unreachable)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class TokenEndpoint:
    """Token requests of one upstream's OAuth client; the endpoint found once, by discovery if
    only the issuer is configured. Raises :class:`CredentialsUnavailable` naming what to fix."""

    def __init__(self, config: OAuthClientConfig) -> None:
        self.config = config
        self._url = config.token_url
        self._ssl: ssl.SSLContext | None = None

    async def grant(self, form: dict[str, str | None]) -> Any:
        """An ``OAuth2Token`` for the grant in ``form`` (its ``grant_type`` and parameters)."""
        verify = await self._verify()
        url = self._url
        if url is None:
            url = self._url = await self._retrying(lambda: self._discover(verify))
        body, headers = await self._authenticated(form)
        token = await self._retrying(lambda: self._post(url, body, headers, verify))
        log.info(
            "[%s] got an access token from %s (%s, expires in %ss)",
            self.config.server,
            url,
            form["grant_type"],
            token.get("expires_in", "?"),
        )
        return token

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        config = self.config
        number = 1
        while True:
            try:
                return await attempt()
            except _Retry as exc:
                if number >= config.max_attempts:
                    raise CredentialsUnavailable(
                        f"{config.where}: {exc.detail} ({number} attempts); check that the "
                        "authorization server is up and reachable from the gateway"
                    ) from None
                delay = backoff(number, config.backoff_initial, config.backoff_max)
                log.warning(
                    "[%s] %s; retrying in %.2fs (attempt %d of %d)",
                    config.server, exc.detail, delay, number, config.max_attempts,
                )  # fmt: skip
                await asyncio.sleep(delay)
                number += 1

    def _client(self, verify: ssl.SSLContext | bool) -> httpx2.AsyncClient:
        """A client per fetch: fetches are rare, and nothing is left open between them."""
        return httpx2.AsyncClient(
            verify=verify, timeout=self.config.timeout, trust_env=False, follow_redirects=False
        )

    async def _verify(self) -> ssl.SSLContext | bool:
        """The TLS context for the authorization server: a CA bundle, and the client certificate
        of ``tls_client_auth``; loaded once, off the event loop."""
        config = self.config
        if config.client_cert is None and config.ca_bundle is None:
            return True
        if self._ssl is None:
            try:
                self._ssl = await asyncio.to_thread(
                    tls_context,
                    ca_bundle=config.ca_bundle,
                    client_cert=config.client_cert,
                    client_key=config.client_key,
                )
            except (OSError, ssl.SSLError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise CredentialsUnavailable(
                    f"{config.where}: cannot load client_cert, client_key or ca_bundle ({reason}); check "
                    "the paths, that they are PEM, and that client_key matches client_cert"
                ) from None
        return self._ssl

    async def _secret(self) -> str:
        config = self.config
        raw = config.client_secret or ""
        where = f"{config.where}.client_secret"
        try:
            if raw.startswith(FILE_PREFIX):
                return await asyncio.to_thread(resolve, raw, where, header=False)
            return resolve(raw, where, header=False)
        except SecretMissing as exc:
            raise CredentialsUnavailable(exc.detail) from None

    async def _authenticated(self, form: dict[str, str | None]) -> tuple[str, dict[str, str]]:
        """The form body and headers of a token request, with the client's authentication."""
        config = self.config
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        params = {key: value for key, value in form.items() if value}
        if config.auth_method == "client_secret_basic":
            headers["Authorization"] = basic_credentials(config.client_id, await self._secret())
        elif config.auth_method == "client_secret_post":
            params.update(client_id=config.client_id, client_secret=await self._secret())
        else:  # tls_client_auth: the certificate proves it; the id says whose it is
            params["client_id"] = config.client_id
        body: str = prepare_token_request(params.pop("grant_type"), **params)
        return body, headers

    async def _post(self, url: str, body: str, headers: dict[str, str], verify: ssl.SSLContext | bool) -> Any:
        try:
            async with self._client(verify) as http:
                response = await http.post(url, content=body, headers=headers)
        except httpx2.HTTPError as exc:
            raise _Retry(f"could not reach the token endpoint {url} ({_reason(exc)})") from None
        return _token_from(response, url, self.config)

    async def _discover(self, verify: ssl.SSLContext | bool) -> str:
        """The token endpoint from the issuer's metadata: RFC 8414's document, else OpenID
        Connect's; the document must name the configured issuer (RFC 8414 section 3.3)."""
        issuer = self.config.issuer
        assert issuer is not None
        candidates = [get_well_known_url(issuer, external=True), _openid_configuration(issuer)]
        async with self._client(verify) as http:
            for url in candidates:
                try:
                    response = await http.get(url, headers={"Accept": "application/json"})
                except httpx2.HTTPError as exc:
                    raise _Retry(f"could not reach the issuer's metadata {url} ({_reason(exc)})") from None
                if response.status_code != 404:
                    return _token_endpoint_of(response, url, self.config)
        raise CredentialsUnavailable(
            f"{self.config.where}.issuer: {issuer} publishes no metadata (HTTP 404 at {candidates[0]} "
            "and at its OpenID configuration); set token_url instead"
        )


def _openid_configuration(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _json_object(response: httpx2.Response) -> dict[str, Any] | None:
    try:
        value = response.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _oauth_error(response: httpx2.Response) -> tuple[str, str]:
    """(``error``, a short ``error_description``) of an RFC 6749 section 5.2 error answer."""
    body = _json_object(response) or {}
    error = str(body.get("error") or "")[:64]
    description = "".join(c for c in str(body.get("error_description") or "") if c.isprintable())
    return error, description[:200]


def _token_from(response: httpx2.Response, url: str, config: OAuthClientConfig) -> Any:
    status = response.status_code
    if status == 429 or status >= 500:
        error, _ = _oauth_error(response)
        raise _Retry(f"the token endpoint {url} answered HTTP {status}" + (f" ({error})" if error else ""))
    if status != 200:
        error, description = _oauth_error(response)
        said = f" ({error}: {description})" if description else f" ({error})" if error else ""
        fix = _FIXES.get(error, f"check the settings of {config.where}")
        raise CredentialsUnavailable(
            f"{config.where}: the token endpoint {url} refused the request: HTTP {status}{said}; {fix}"
        )
    body = _json_object(response)
    access = body.get("access_token") if body is not None else None
    if body is None or not isinstance(access, str) or not access:
        raise CredentialsUnavailable(
            f"{config.where}: the token endpoint {url} answered without an access_token"
        )
    kind = str(body.get("token_type") or "Bearer")
    if kind.lower() != "bearer":
        raise CredentialsUnavailable(
            f"{config.where}: the token endpoint {url} issued a {kind[:32]!r} token; only Bearer tokens "
            "can be sent upstream"
        )
    return OAuth2Token(body)


def _token_endpoint_of(response: httpx2.Response, url: str, config: OAuthClientConfig) -> str:
    if response.status_code == 429 or response.status_code >= 500:
        raise _Retry(f"the issuer's metadata {url} answered HTTP {response.status_code}")
    metadata = _json_object(response) if response.status_code == 200 else None
    if metadata is None:
        raise CredentialsUnavailable(
            f"{config.where}.issuer: {url} answered HTTP {response.status_code} without a JSON document; "
            "check issuer, or set token_url"
        )
    if metadata.get("issuer") != config.issuer:
        raise CredentialsUnavailable(
            f"{config.where}.issuer: the metadata at {url} names another issuer "
            f"({str(metadata.get('issuer'))[:200]!r}); set issuer to exactly that value"
        )
    endpoint = metadata.get("token_endpoint")
    if not isinstance(endpoint, str) or not secure_endpoint(endpoint):
        raise CredentialsUnavailable(
            f"{config.where}.issuer: the metadata at {url} names no HTTPS token_endpoint; set token_url"
        )
    return endpoint


def client_credentials_form(config: OAuthClientConfig) -> dict[str, str | None]:
    return {
        "grant_type": GRANT_CLIENT_CREDENTIALS,
        "scope": config.scope,
        "audience": config.audience,
        "resource": config.resource,
    }


def token_exchange_form(config: OAuthClientConfig, subject_token: str) -> dict[str, str | None]:
    """RFC 8693: the caller's token for one whose audience is the upstream."""
    return {
        "grant_type": GRANT_TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "requested_token_type": ACCESS_TOKEN_TYPE,
        "scope": config.scope,
        "audience": config.audience,
        "resource": config.resource,
    }
