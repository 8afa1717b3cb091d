"""JWT verification against the real local issuer (tests/fixtures/oauth_issuer.py): what is
checked, the JWKS cache and its bounded refresh, key rotation, the verified-token cache and the
claim mapping. In process: the authenticator is called with the HTTP scope a request would make."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

import middleware.auth.oidc as oidc_module
from middleware.auth.chain import AuthRefused
from middleware.auth.jwks import JwksCache, metadata_urls, parse_jwks
from middleware.auth.oidc import ClaimMapping, OidcAuthenticator, claim_at
from middleware.auth.resource_metadata import ProtectedResource
from middleware.protocol import SUBJECT_TOKEN_KEY
from tests.fixtures.oauth_issuer import Issuer, running_issuer

pytestmark = pytest.mark.timeout(60)

BASE = "http://gw.test"
MCP = f"{BASE}/mcp"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with running_issuer() as running:
        yield running


def request(token: str | None, path: str = "/mcp", host: str = "gw.test") -> dict[str, Any]:
    headers = [(b"host", host.encode())]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {"type": "http", "method": "POST", "path": path, "scheme": "http", "headers": headers}


def authenticator(issuer: Issuer, **options: Any) -> OidcAuthenticator:
    keys = JwksCache(
        issuer.url,
        jwks_url=options.pop("jwks_url", None),
        min_refresh_interval=options.pop("min_refresh_interval", 30.0),
        max_age=options.pop("max_age", 3600.0),
    )
    resource = ProtectedResource(
        (issuer.url,),
        base_url=options.pop("base_url", None),
        required_scopes=options.pop("required_scopes", ()),
        path_scopes=options.pop("path_scopes", {}),
    )
    return OidcAuthenticator(
        issuer=issuer.url, keys=keys, resource=resource, algorithms=("RS256", "ES256"), **options
    )


async def refused(auth: OidcAuthenticator, token: str, path: str = "/mcp") -> AuthRefused:
    with pytest.raises(AuthRefused) as caught:
        await auth.authenticate(request(token, path))
    return caught.value


async def test_a_valid_token_names_its_principal_and_waits_for_token_exchange(issuer: Issuer) -> None:
    auth = authenticator(issuer)
    token = issuer.mint("alice", aud=MCP, scope="files:read tools:call", claims={"azp": "ide"})
    scope = request(token)
    principal = await auth.authenticate(scope)
    assert principal is not None and principal.name == "alice"
    assert principal.scopes == {"files:read", "tools:call"}
    assert principal.attributes == {"auth": "oidc", "issuer": issuer.url, "client_id": "ide"}
    assert scope[SUBJECT_TOKEN_KEY] == token


async def test_a_verified_token_is_not_verified_again(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = authenticator(issuer)
    decodes = []
    real_decode = oidc_module.jwt.decode
    monkeypatch.setattr(oidc_module.jwt, "decode", lambda *a, **k: decodes.append(1) or real_decode(*a, **k))
    token = issuer.mint(aud=MCP)
    for _ in range(20):
        assert await auth.authenticate(request(token)) is not None
    assert len(decodes) == 1


async def test_expiry_and_not_before_with_leeway(issuer: Issuer) -> None:
    auth = authenticator(issuer, leeway=30)
    assert "expired" in (await refused(auth, issuer.mint(aud=MCP, expires_in=-60))).reason
    assert await auth.authenticate(request(issuer.mint(aud=MCP, expires_in=-10))) is not None
    assert "not valid yet" in (await refused(auth, issuer.mint(aud=MCP, not_before=120))).reason
    assert await auth.authenticate(request(issuer.mint(aud=MCP, not_before=10))) is not None
    no_exp = issuer.mint(aud=MCP, claims={"exp": None})
    assert "no valid exp" in (await refused(auth, no_exp)).reason


async def test_a_cached_token_is_refused_once_it_expires(issuer: Issuer) -> None:
    auth = authenticator(issuer, leeway=0)
    token = issuer.mint(aud=MCP, expires_in=2)  # at least one second left (iat is truncated)
    assert await auth.authenticate(request(token)) is not None
    exp = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["exp"]
    await asyncio.sleep(exp - time.time() + 0.05)
    assert "expired" in (await refused(auth, token)).reason


async def test_another_issuer_is_refused(issuer: Issuer) -> None:
    auth = authenticator(issuer)
    assert (
        "another issuer" in (await refused(auth, issuer.mint(aud=MCP, issuer="https://evil.example"))).reason
    )


async def test_the_audience_must_name_this_resource(issuer: Issuer) -> None:
    """RFC 8707: the endpoint's URL or the gateway's base URL; not another endpoint, not another
    service; the scheme and host compare case-insensitively."""
    auth = authenticator(issuer)
    for good in (MCP, BASE, [f"{BASE}/other", MCP], "HTTP://GW.TEST/mcp", f"{MCP}/"):
        assert await auth.authenticate(request(issuer.mint(aud=good))) is not None, good
    alpha = f"{BASE}/servers/alpha/mcp"
    assert await auth.authenticate(request(issuer.mint(aud=alpha), "/servers/alpha/mcp")) is not None
    for bad, path in ((alpha, "/mcp"), (MCP, "/servers/beta/mcp"), ("https://api.example.com", "/mcp")):
        assert "not meant for this resource" in (await refused(auth, issuer.mint(aud=bad), path)).reason
    assert "no audience" in (await refused(auth, issuer.mint())).reason


async def test_configured_audiences_replace_the_endpoint_urls(issuer: Issuer) -> None:
    auth = authenticator(issuer, audiences=["https://mcp.example.com", "api://portcullis"])
    assert await auth.authenticate(request(issuer.mint(aud="api://portcullis"))) is not None
    assert "not meant" in (await refused(auth, issuer.mint(aud=MCP))).reason


async def test_the_base_url_comes_from_settings_or_the_host(issuer: Issuer) -> None:
    configured = authenticator(issuer, base_url="https://mcp.example.com")
    token = issuer.mint(aud="https://mcp.example.com/mcp")
    assert await configured.authenticate(request(token, host="127.0.0.1:9")) is not None
    derived = authenticator(issuer)
    assert "not meant" in (await refused(derived, token)).reason


async def test_a_bad_signature_is_refused(issuer: Issuer) -> None:
    auth = authenticator(issuer)
    header, payload, signature = issuer.mint(aud=MCP).split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    assert "signature" in (await refused(auth, f"{header}.{payload}.{flipped}")).reason
    other = issuer.mint("mallory", aud=MCP).split(".")[1]
    assert "signature" in (await refused(auth, f"{header}.{other}.{signature}")).reason


async def test_alg_none_and_hmac_with_the_public_key_are_refused(issuer: Issuer) -> None:
    auth = authenticator(issuer)
    assert "'none'" in (await refused(auth, issuer.mint_unsigned(aud=MCP))).reason
    # The classic confusion: HS256 "signed" with the issuer's public key as the secret.
    header = _b64({"alg": "HS256", "kid": issuer.current_kid, "typ": "JWT"})
    payload = issuer.mint(aud=MCP).split(".")[1]
    secret = json.dumps(issuer.public_keys["keys"][0]).encode()
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert "'HS256'" in (await refused(auth, forged)).reason


async def test_what_is_not_a_jwt_is_left_to_the_next_authenticator(issuer: Issuer) -> None:
    auth = authenticator(issuer)
    for token in ("pcs_test_alice_key_0123456789", "eyJnot.a.jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9"):
        assert await auth.authenticate(request(token)) is None
    assert await auth.authenticate(request(None)) is None


async def test_an_unknown_kid_refreshes_the_keys_at_most_once_per_interval(issuer: Issuer) -> None:
    auth = authenticator(issuer, min_refresh_interval=30)
    assert await auth.authenticate(request(issuer.mint(aud=MCP))) is not None
    before = issuer.requests["jwks"]
    flood = [issuer.sign_with_unpublished_key(aud=MCP) for _ in range(5)]
    outcomes = await asyncio.gather(
        *(auth.authenticate(request(t)) for t in flood * 10), return_exceptions=True
    )
    assert all(isinstance(o, AuthRefused) and "does not publish" in o.reason for o in outcomes)
    assert issuer.requests["jwks"] - before <= 1


async def test_rotated_keys_are_fetched_and_the_old_key_works_until_retired(issuer: Issuer) -> None:
    with running_issuer() as rotating:
        auth = authenticator(rotating, min_refresh_interval=0.2)
        old_kid = rotating.current_kid
        assert await auth.authenticate(request(rotating.mint(aud=MCP))) is not None
        assert rotating.requests["jwks"] == 1
        rotating.rotate_keys()
        await asyncio.sleep(0.25)  # the refresh interval since the first fetch
        assert await auth.authenticate(request(rotating.mint(aud=MCP))) is not None  # new kid: one refresh
        assert rotating.requests["jwks"] == 2
        assert await auth.authenticate(request(rotating.mint("bob", aud=MCP, kid=old_kid))) is not None
        rotating.retire_old_keys()
        await asyncio.sleep(0.25)
        await refused(auth, rotating.sign_with_unpublished_key(aud=MCP))  # unknown kid: a refresh
        assert rotating.requests["jwks"] == 3
        late = rotating.mint("carol", aud=MCP)  # signed by the current key...
        assert await auth.authenticate(request(late)) is not None
        retired = refused(auth, _resign_with_kid(rotating, old_kid))  # ...but the old one is gone
        assert "does not publish" in (await retired).reason


async def test_the_keys_are_discovered_through_rfc_8414_when_oidc_discovery_is_absent() -> None:
    with running_issuer(algorithm="ES256") as issuer:
        issuer.openid_configuration = False
        auth = authenticator(issuer)
        assert await auth.authenticate(request(issuer.mint(aud=MCP))) is not None
        assert auth.keys.jwks_url == issuer.jwks_url
    assert metadata_urls("https://id.example.com/tenant1") == [
        "https://id.example.com/tenant1/.well-known/openid-configuration",
        "https://id.example.com/.well-known/oauth-authorization-server/tenant1",
    ]


async def test_an_unreachable_issuer_refuses_and_is_retried_later(issuer: Issuer) -> None:
    auth = authenticator(issuer, jwks_url=issuer.jwks_url, min_refresh_interval=0.1)
    issuer.fail_jwks(1)
    assert "cannot be fetched" in (await refused(auth, issuer.mint(aud=MCP))).reason
    await asyncio.sleep(0.15)
    assert await auth.authenticate(request(issuer.mint(aud=MCP))) is not None


async def test_claims_map_to_user_project_roles_and_scopes(issuer: Issuer) -> None:
    mapping = ClaimMapping(user="email", project="tenant", roles="realm_access.roles", scope="scope")
    auth = authenticator(issuer, claims=mapping)
    claims = {"email": "ann@example.com", "tenant": "acme", "realm_access": {"roles": ["admin", "dev"]}}
    token = issuer.mint("u-1", aud=MCP, claims={**claims, "scp": ["files:read", "files:write"]})
    principal = await auth.authenticate(request(token))
    assert principal is not None
    assert (principal.name, principal.project) == ("ann@example.com", "acme")
    assert principal.roles == {"admin", "dev"} and principal.scopes == {"files:read", "files:write"}
    missing = issuer.mint("u-2", aud=MCP)
    assert "no email claim" in (await refused(auth, missing)).reason
    assert claim_at({"a.b": 1, "a": {"b": 2}}, "a.b") == 1 and claim_at({"a": [1]}, "a.b") is None


async def test_missing_scopes_are_a_403_for_step_up(issuer: Issuer) -> None:
    auth = authenticator(
        issuer, required_scopes=("mcp",), path_scopes={"/servers/files/mcp": ("files:write",)}
    )
    files = f"{BASE}/servers/files/mcp"
    assert await auth.authenticate(
        request(issuer.mint(aud=files, scope="mcp files:write"), "/servers/files/mcp")
    )
    step_up = await refused(auth, issuer.mint(aud=files, scope="mcp files:read"), "/servers/files/mcp")
    assert (step_up.status, step_up.error, step_up.scopes) == (
        403,
        "insufficient_scope",
        ("mcp", "files:write"),
    )
    assert (await refused(auth, issuer.mint(aud=MCP))).status == 403


async def test_the_token_cache_is_bounded(issuer: Issuer) -> None:
    auth = authenticator(issuer, cache_size=3)
    for n in range(8):
        assert await auth.authenticate(request(issuer.mint(f"user{n}", aud=MCP))) is not None
    assert len(auth._cache) <= 3


def test_a_jwks_keeps_only_public_signing_keys(issuer: Issuer) -> None:
    published = issuer.public_keys["keys"][0]
    keys = parse_jwks(
        {
            "keys": [
                published,
                {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
                {**published, "kid": "enc", "use": "enc"},
                {"kty": "RSA", "kid": "broken", "n": "???"},
            ]
        }
    )
    assert list(keys) == [published["kid"]]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _resign_with_kid(issuer: Issuer, kid: str) -> str:
    """A token whose header names ``kid`` (whatever key really signed it)."""
    token = issuer.mint("dave", aud=MCP)
    _, payload, signature = token.split(".")
    return f"{_b64({'alg': 'RS256', 'kid': kid, 'typ': 'at+jwt'})}.{payload}.{signature}"
