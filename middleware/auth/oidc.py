"""Bearer JWTs from an OIDC / OAuth 2.1 issuer, verified with joserfc (authlib's JOSE layer).

Checked: the signature (an allowed public-key algorithm and a key the issuer publishes), ``iss``,
``exp`` and ``nbf`` (with a small leeway), ``aud`` naming this resource (RFC 8707: the endpoint's
URL or the configured audiences), and the scopes the endpoint needs. A verified token is kept by
its SHA-256 until it expires, so that the next request pays a digest and a dict lookup instead of
a signature check; audience and scopes, which depend on the path, are checked on every request.

A credential that is not a JWT at all is not ours (an API key, say): ``None`` lets the chain ask
the next authenticator. A JWT that fails is refused: :class:`AuthRefused`, never a fallback.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from middleware.auth.chain import AuthRefused
from middleware.auth.jwks import JwksCache, KeysUnavailable
from middleware.auth.resource_metadata import ProtectedResource, canonical, endpoint_path
from middleware.protocol import SUBJECT_TOKEN_KEY, Principal
from middleware.protocol.http import ASGIScope, header

log = logging.getLogger("portcullis.auth")

_PURGE_INTERVAL = 1.0


@dataclass(frozen=True)
class ClaimMapping:
    """Where the principal's parts are read in the claims; paths are dotted (``realm_access.roles``)."""

    user: str = "sub"
    project: str | None = None
    roles: str | None = None
    scope: str = "scope"


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    expires: float
    """``exp`` plus the leeway: after this the token is refused without another look."""
    audiences: frozenset[str]


def bearer_token(scope: ASGIScope) -> str | None:
    authorization = header(scope, b"authorization")
    if authorization is None:
        return None
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The claim at a dotted path (a claim whose own name has dots wins), or None."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _strings(value: Any) -> frozenset[str]:
    """A space-delimited string or a list of strings, as a set."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(str(item) for item in value if isinstance(item, str | int))
    return frozenset()


def _parse(token: str) -> dict[str, Any] | None:
    """The protected header of a compact JWS, or None if ``token`` is not one."""
    if token.count(".") != 2 or not token.startswith("eyJ"):
        return None
    try:
        headers = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, TypeError, UnicodeError):
        return None
    return dict(headers) if isinstance(headers, dict) and "alg" in headers else None


class OidcAuthenticator:
    name = "oidc"

    def __init__(
        self,
        *,
        issuer: str,
        keys: JwksCache,
        resource: ProtectedResource,
        audiences: Sequence[str] = (),
        algorithms: Sequence[str] = ("RS256", "ES256"),
        leeway: float = 30.0,
        claims: ClaimMapping = ClaimMapping(),
        cache_size: int = 10_000,
    ) -> None:
        if not algorithms or any(a == "none" or a.startswith("HS") for a in algorithms):
            raise ValueError("a resource server accepts public-key algorithms only (never none or HS*)")
        self.issuer = issuer
        self.keys = keys
        self.resource = resource
        self.audiences = frozenset(canonical(a) for a in audiences)
        """Fixed audiences; empty means "the URL of the endpoint asked, or the gateway's base URL"."""
        self.algorithms = frozenset(algorithms)
        self.leeway = leeway
        self.claims = claims
        self.cache_size = cache_size
        self._cache: dict[bytes, _Verified] = {}
        self._purged = 0.0

    async def authenticate(self, scope: ASGIScope) -> Principal | None:
        token = bearer_token(scope)
        if token is None:
            return None
        digest = hashlib.sha256(token.encode("latin-1")).digest()
        verified = self._cache.get(digest)
        if verified is None:
            found = await self._verify(token, digest)
            if found is None:
                return None
            verified = found
        elif verified.expires < time.time():
            del self._cache[digest]
            raise AuthRefused("the token has expired")
        path = endpoint_path(scope)
        self._check_audience(verified, scope, path)
        self._check_scopes(verified.principal, path)
        scope[SUBJECT_TOKEN_KEY] = token
        return verified.principal

    def _check_audience(self, verified: _Verified, scope: ASGIScope, path: str) -> None:
        if self.audiences:
            if verified.audiences.isdisjoint(self.audiences):
                raise AuthRefused("the token is not meant for this resource (its audience is another)")
            return
        base = self.resource.base(scope)  # canonical already
        if base + path not in verified.audiences and base not in verified.audiences:
            raise AuthRefused(f"the token is not meant for this resource: its audience must be {base + path}")

    def _check_scopes(self, principal: Principal, path: str) -> None:
        needed = self.resource.scopes_for(path)
        granted = principal.scopes or frozenset()
        if needed and not granted.issuperset(needed):
            missing = " ".join(s for s in needed if s not in granted)
            raise AuthRefused(
                f"the token lacks the scope {missing}", status=403, error="insufficient_scope", scopes=needed
            )

    async def _verify(self, token: str, digest: bytes) -> _Verified | None:
        """The token checked from scratch (signature and claims) and remembered; None if not a JWT."""
        headers = _parse(token)
        if headers is None:
            return None
        alg, kid = headers.get("alg"), headers.get("kid")
        if alg not in self.algorithms:
            raise AuthRefused(f"tokens signed with {str(alg)[:20]!r} are not accepted here")
        if kid is not None and not isinstance(kid, str):
            raise AuthRefused("the token's kid is not a string")
        try:
            key = await self.keys.key_for(kid)
        except KeysUnavailable:
            raise AuthRefused("the issuer's signing keys cannot be fetched now; try again later") from None
        if key is None:
            raise AuthRefused("the token is signed with a key the issuer does not publish")
        try:
            claims = dict(jwt.decode(token, key, algorithms=[str(alg)]).claims)
        except (JoseError, ValueError):
            raise AuthRefused("the token's signature is not valid") from None
        verified = self._admit(claims)
        self._remember(digest, verified)
        return verified

    def _admit(self, claims: dict[str, Any]) -> _Verified:
        """The principal of signed ``claims``, if they are this issuer's and current."""
        now = time.time()
        if claims.get("iss") != self.issuer:
            raise AuthRefused("the token was issued by another issuer")
        exp, nbf = claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(exp, int | float) or not isinstance(nbf, int | float):
            raise AuthRefused("the token has no valid exp (or its nbf is not a number)")
        if exp + self.leeway < now:
            raise AuthRefused("the token has expired")
        if nbf - self.leeway > now:
            raise AuthRefused("the token is not valid yet (nbf)")
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences
        if not isinstance(audiences, list) or not audiences:
            raise AuthRefused("the token names no audience (aud)")
        audience_set = frozenset(canonical(a) for a in audiences if isinstance(a, str))
        return _Verified(self._principal(claims), exp + self.leeway, audience_set)

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        mapping = self.claims
        user = claim_at(claims, mapping.user)
        if not isinstance(user, str | int) or isinstance(user, bool) or user == "":
            raise AuthRefused(f"the token has no {mapping.user} claim naming the user")
        project = claim_at(claims, mapping.project) if mapping.project else None
        roles = _strings(claim_at(claims, mapping.roles)) if mapping.roles else frozenset()
        scopes = claim_at(claims, mapping.scope)
        if scopes is None:
            scopes = claims.get("scp")
        attributes = {"auth": "oidc", "issuer": self.issuer}
        client = claims.get("client_id") or claims.get("azp")
        if isinstance(client, str):
            attributes["client_id"] = client
        return Principal(
            str(user),
            attributes=attributes,
            project=str(project) if isinstance(project, str | int) and project != "" else None,
            roles=roles,
            scopes=_strings(scopes),
        )

    def _remember(self, digest: bytes, verified: _Verified) -> None:
        """Keep ``verified`` until it expires, within ``cache_size`` entries."""
        if self.cache_size <= 0:
            return
        cache = self._cache
        if len(cache) >= self.cache_size:
            now = time.time()
            if now - self._purged > _PURGE_INTERVAL:
                self._purged = now
                for stale in [d for d, v in cache.items() if v.expires < now]:
                    del cache[stale]
            while len(cache) >= self.cache_size:
                del cache[next(iter(cache))]  # the oldest: dicts keep insertion order
        cache[digest] = verified
