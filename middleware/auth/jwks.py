"""The issuer's signing keys, fetched from its JWKS and cached (a cold path: httpx2 is fine here).

The JWKS is found through the issuer's metadata (OpenID Connect discovery, then RFC 8414) unless
its URL is configured, and fetched again when it is older than ``max_age``. A token naming a
``kid`` we do not know may mean the issuer rotated its keys, so it triggers a fetch — but at most
one per ``min_refresh_interval``: a flood of tokens with random kids must not become a flood of
requests to the issuer. Concurrent lookups share one fetch.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from typing import Any
from urllib.parse import urlsplit

import httpx2
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

log = logging.getLogger("portcullis.auth")

PublicKey = RSAKey | ECKey | OKPKey
_TIMEOUT = httpx2.Timeout(5.0)
_MAX_KEYS = 100


class KeysUnavailable(Exception):
    """The issuer's keys could not be fetched (and none are cached)."""


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer publishes its metadata: OIDC discovery appends to the issuer; RFC 8414
    inserts the well-known segment before the issuer's path."""
    parts = urlsplit(issuer.rstrip("/"))
    base = f"{parts.scheme}://{parts.netloc}"
    return [
        f"{issuer.rstrip('/')}/.well-known/openid-configuration",
        f"{base}/.well-known/oauth-authorization-server{parts.path}",
    ]


def parse_jwks(document: Any) -> dict[str, PublicKey]:
    """The public signing keys of a JWKS by kid; symmetric, encryption and malformed keys are
    skipped (one bad key does not spoil the others). A lone key without kid is kept under ""."""
    keys: dict[str, PublicKey] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise KeysUnavailable("the JWKS has no `keys` list")
    for entry in entries[:_MAX_KEYS]:
        if not isinstance(entry, dict) or entry.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                key = JWKRegistry.import_key(entry)
        except (JoseError, ValueError, TypeError):
            log.warning("skipping a malformed key (kid %r) in the issuer's JWKS", str(entry.get("kid"))[:64])
            continue
        assert isinstance(key, RSAKey | ECKey | OKPKey)
        keys[str(entry.get("kid", ""))] = key
    return keys


class JwksCache:
    def __init__(
        self,
        issuer: str,
        *,
        jwks_url: str | None = None,
        max_age: float = 3600.0,
        min_refresh_interval: float = 30.0,
    ) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.max_age = max_age
        self.min_refresh_interval = min_refresh_interval
        self.keys: dict[str, PublicKey] = {}
        self.fetched_at: float | None = None
        """monotonic time of the last fetch attempt, successful or not."""
        self.loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str | None) -> PublicKey | None:
        """The key a token names, fetching the JWKS when it is stale or when ``kid`` is unknown
        (bounded); None if the issuer does not publish it."""
        now = time.monotonic()
        stale = self.loaded_at is not None and now - self.loaded_at > self.max_age
        if stale and self._may_refresh(now):
            await self._refresh()
        key = self._find(kid)
        if key is None and self._may_refresh(time.monotonic()):
            await self._refresh()
            key = self._find(kid)
        if key is None and self.loaded_at is None:
            raise KeysUnavailable(f"the signing keys of {self.issuer} could not be fetched")
        return key

    def _find(self, kid: str | None) -> PublicKey | None:
        if kid is not None:
            return self.keys.get(kid)
        return next(iter(self.keys.values())) if len(self.keys) == 1 else None

    def _may_refresh(self, now: float) -> bool:
        return self.fetched_at is None or now - self.fetched_at >= self.min_refresh_interval

    async def _refresh(self) -> None:
        """One fetch for everyone waiting; keeps the old keys when the issuer is unreachable."""
        started = time.monotonic()
        async with self._lock:
            if self.fetched_at is not None and self.fetched_at >= started:
                return  # someone fetched while we waited
            if not self._may_refresh(time.monotonic()):
                return
            self.fetched_at = time.monotonic()
            try:
                keys = await self._fetch()
            except (KeysUnavailable, httpx2.HTTPError, ValueError) as exc:
                log.warning("could not fetch the signing keys of issuer %s: %s", self.issuer, _short(exc))
                if not self.keys:
                    raise KeysUnavailable(f"the signing keys of {self.issuer} could not be fetched") from None
                return
            self.keys, self.loaded_at = keys, time.monotonic()
            log.info("fetched %d signing keys of issuer %s", len(keys), self.issuer)

    async def _fetch(self) -> dict[str, PublicKey]:
        async with httpx2.AsyncClient(timeout=_TIMEOUT, follow_redirects=False) as client:
            url = self.jwks_url or await self._discover(client)
            response = await client.get(url, headers={"accept": "application/json"})
            if response.status_code != 200:
                raise KeysUnavailable(f"{url} answered {response.status_code}")
            return parse_jwks(response.json())

    async def _discover(self, client: httpx2.AsyncClient) -> str:
        """The jwks_uri of the issuer's metadata, whose ``issuer`` must be ours (OIDC Discovery 4.3)."""
        problems = []
        for url in metadata_urls(self.issuer):
            response = await client.get(url, headers={"accept": "application/json"})
            if response.status_code != 200:
                problems.append(f"{url} answered {response.status_code}")
                continue
            metadata = response.json()
            if not isinstance(metadata, dict) or metadata.get("issuer") != self.issuer:
                problems.append(f"{url} names another issuer")
                continue
            jwks_uri = metadata.get("jwks_uri")
            if isinstance(jwks_uri, str) and jwks_uri.startswith(("https://", "http://")):
                self.jwks_url = jwks_uri
                return jwks_uri
            problems.append(f"{url} has no jwks_uri")
        raise KeysUnavailable("; ".join(problems))


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:300]
