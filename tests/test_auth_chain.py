"""The authentication chain (middleware/auth/authenticate.py) in process: the configured order,
first principal wins, fail closed on a refusal or a broken authenticator, and the 401 / 403
challenges parsed as an MCP client parses them (RFC 6750 section 3, RFC 9728 section 5.1)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.identity import _Providers, authenticators
from gateway.settings import Settings
from middleware.auth.authenticate import Authenticate
from middleware.auth.chain import AuthRefused
from middleware.auth.resource_metadata import ProtectedResource
from middleware.protocol import ANONYMOUS, PRINCIPAL_KEY, Principal
from middleware.protocol.jsonrpc import FORBIDDEN, UNAUTHORIZED
from middleware.providers.auth import ProviderAuth

SECRET = "eyJhbGciOiJSUzI1NiJ9.secret-token.sig"
RESOURCE = ProtectedResource(
    ("https://id.example.com",),
    base_url="https://mcp.example.com",
    required_scopes=("mcp",),
    path_scopes={"/servers/files/mcp": ("files:read",)},
)


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """An RFC 7235 challenge: the scheme and its auth-params (quoted-string or token values)."""
    scheme, _, rest = value.partition(" ")
    params = {}
    for match in re.finditer(r'\s*([A-Za-z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*(?:,|$)', rest):
        params[match.group(1)] = match.group(2) if match.group(2) is not None else match.group(3)
    return scheme, params


class Fixed:
    """An authenticator that answers what it is told, and counts the questions."""

    def __init__(self, name: str, answer: Principal | Exception | None) -> None:
        self.name, self.answer, self.asked = name, answer, 0

    async def authenticate(self, scope: dict[str, Any]) -> Principal | None:
        self.asked += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def call(app: Authenticate, path: str = "/mcp", token: str | None = SECRET) -> dict[str, Any]:
    """One request through ``app``; the answer's status, headers and body, and the inner scope."""
    headers = [(b"host", b"mcp.example.com")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": headers,
        "scheme": "https",
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    await app(scope, receive, send)
    if not sent:
        return {"status": None, "principal": scope.get(PRINCIPAL_KEY)}
    headers_out = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    return {"status": sent[0]["status"], "headers": headers_out, "body": orjson.loads(sent[1]["body"])}


async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
    return None


def chain(
    *authenticators: Any, resource: ProtectedResource | None = RESOURCE, **options: Any
) -> Authenticate:
    return Authenticate(inner, authenticators=authenticators, resource=resource, **options)


async def test_the_first_principal_wins_in_the_configured_order() -> None:
    first, second = Fixed("a", None), Fixed("b", Principal("bob"))
    third = Fixed("c", Principal("carol"))
    answer = await call(chain(first, second, third))
    assert answer == {"status": None, "principal": Principal("bob")}
    assert (first.asked, second.asked, third.asked) == (1, 1, 0)


async def test_a_refusal_ends_the_chain_without_asking_the_next() -> None:
    refusing, after = Fixed("oidc", AuthRefused("the token has expired")), Fixed("providers", Principal("x"))
    answer = await call(chain(refusing, after))
    assert answer["status"] == 401 and after.asked == 0
    scheme, params = parse_challenge(answer["headers"]["www-authenticate"])
    assert scheme == "Bearer"
    assert params == {
        "error": "invalid_token",
        "error_description": "the token has expired",
        "scope": "mcp",
        "resource_metadata": "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
    }
    assert answer["body"]["error"]["code"] == UNAUTHORIZED
    assert answer["body"]["error"]["message"].startswith("the token has expired; send 'Authorization: Bearer")


async def test_a_broken_authenticator_never_opens_access(caplog: pytest.LogCaptureFixture) -> None:
    broken, after = Fixed("providers", RuntimeError(f"boom {SECRET}")), Fixed("x", Principal("x"))
    with caplog.at_level(logging.INFO):
        answer = await call(chain(broken, after))
    assert answer["status"] == 401 and after.asked == 0
    assert "failed" in answer["body"]["error"]["message"]
    assert SECRET not in caplog.text and "secret-token" not in caplog.text


async def test_a_provider_that_raises_is_refused_through_the_real_adapter() -> None:
    class Raising:
        async def authenticate(self, credentials: Any) -> Any:
            raise ConnectionError("auth service down")

    providers = _Providers(ProviderAuth([Raising()]).principal_for)
    answer = await call(chain(providers))
    assert answer["status"] == 401


async def test_no_credential_is_a_401_without_an_error_code() -> None:
    answer = await call(chain(Fixed("api_keys", None)), path="/servers/files/mcp", token=None)
    assert answer["status"] == 401
    _, params = parse_challenge(answer["headers"]["www-authenticate"])
    assert params == {
        "scope": "mcp files:read",
        "resource_metadata": "https://mcp.example.com/.well-known/oauth-protected-resource/servers/files/mcp",
    }
    assert "no bearer token or API key was presented" in answer["body"]["error"]["message"]
    assert "https://id.example.com" in answer["body"]["error"]["message"]


async def test_insufficient_scope_is_a_403_for_step_up() -> None:
    refusal = AuthRefused("the token lacks the scope files:read", status=403, error="insufficient_scope",
                          scopes=("mcp", "files:read"))  # fmt: skip
    answer = await call(chain(Fixed("oidc", refusal)), path="/servers/files/mcp")
    assert answer["status"] == 403
    _, params = parse_challenge(answer["headers"]["www-authenticate"])
    assert params["error"] == "insufficient_scope" and params["scope"] == "mcp files:read"
    assert params["resource_metadata"].endswith("/.well-known/oauth-protected-resource/servers/files/mcp")
    error = answer["body"]["error"]
    assert error["code"] == FORBIDDEN and error["data"]["fault"] == "policy"
    assert error["data"]["scope"] == "mcp files:read"


async def test_without_an_issuer_the_challenge_stays_the_api_key_one() -> None:
    answer = await call(chain(Fixed("api_keys", None), resource=None), token="pcs_wrong")
    assert answer["status"] == 401 and answer["headers"]["www-authenticate"] == 'Bearer realm="portcullis"'
    assert answer["body"]["error"]["message"].startswith("the API key is not valid; send it as")


async def test_public_paths_and_disabled_auth() -> None:
    refusing = Fixed("oidc", AuthRefused("no"))
    public = chain(refusing, public_paths=["/healthz", "/.well-known/oauth-protected-resource/mcp"])
    assert (await call(public, "/.well-known/oauth-protected-resource/mcp"))["status"] is None
    assert (await call(public, "/healthz/"))["status"] is None
    assert refusing.asked == 0
    disabled = chain(refusing, enabled=False)
    assert await call(disabled) == {"status": None, "principal": ANONYMOUS}


def test_the_settings_order_decides_the_chain(tmp_path: Path) -> None:
    class Tenancy:
        authenticator = Fixed("api_keys", None)

    oidc = {"issuer": "https://id.example.com"}
    settings = Settings(auth={"order": ["oidc", "api_keys"], "oidc": oidc})
    names = [a.name for a in authenticators(settings, Tenancy(), RESOURCE)]  # type: ignore[arg-type]
    assert names == ["oidc", "api_keys"]
    plain = Settings(auth={"order": ["providers", "api_keys", "oidc"]})
    assert [a.name for a in authenticators(plain, Tenancy(), None)] == ["api_keys"]  # type: ignore[arg-type]
