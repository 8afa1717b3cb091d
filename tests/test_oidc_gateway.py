"""OIDC bearer tokens through a real gateway process, issued by the real local issuer: the ``mcp``
SDK client with a JWT, API keys beside tokens, every refusal as a client sees it (401 / 403 and
their ``WWW-Authenticate``, parsed with the SDK's own helpers), and the discovery a client makes
from a 401 to the protected-resource metadata."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from mcp.client.auth.utils import (
    extract_field_from_www_auth,
    extract_resource_metadata_from_www_auth,
    extract_scope_from_www_auth,
    handle_protected_resource_response,
)

from tests.fixtures.oauth_issuer import Issuer, running_issuer
from tests.support import (
    ACCEPT_BOTH,
    ALICE_KEY,
    INITIALIZE,
    RunningGateway,
    default_settings,
    fixture_server,
    running_gateway,
    text_of,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with running_issuer() as running:
        yield running


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[RunningGateway]:
    settings = default_settings(
        {"alpha": fixture_server("alpha"), "files": fixture_server("files", "--tools-only")},
        middleware=[{"use": "middleware.telemetry.access_log:AccessLog"}],
    )
    settings["auth"]["oidc"] = {
        "issuer": issuer.url,
        "required_scopes": ["mcp"],
        "server_scopes": {"files": ["files:read"]},
        "project_claim": "tenant",
        "roles_claim": "realm_access.roles",
        "jwks_min_refresh_interval": 60,
    }
    with running_gateway(tmp_path_factory.mktemp("oidc"), settings) as running:
        yield running


async def post(gateway: RunningGateway, token: str | None, url: str | None = None) -> httpx2.Response:
    headers = {"accept": ACCEPT_BOTH, "content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    async with httpx2.AsyncClient(timeout=10) as http:
        return await http.post(url or gateway.url, headers=headers, json=INITIALIZE)


async def test_a_bearer_jwt_lists_and_calls_tools(gateway: RunningGateway, issuer: Issuer) -> None:
    token = issuer.mint("ann", aud=gateway.url, scope="mcp", claims={"tenant": "acme"})
    async with gateway.client(key=token) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"alpha__echo", "files__echo"} <= names
        assert text_of(await client.call_tool("alpha__echo", {"text": "hi"})) == "alpha:hi"
    log = gateway.log()
    assert token not in log and token.split(".")[2] not in log
    assert "principal=ann " in log


async def test_api_keys_still_work_beside_tokens(gateway: RunningGateway) -> None:
    async with gateway.client(key=ALICE_KEY) as client:
        assert text_of(await client.call_tool("alpha__echo", {"text": "key"})) == "alpha:key"


async def test_no_credential_leads_a_client_to_the_metadata_and_the_issuer(
    gateway: RunningGateway, issuer: Issuer
) -> None:
    response = await post(gateway, None)
    assert response.status_code == 401
    metadata_url = extract_resource_metadata_from_www_auth(response)
    assert metadata_url == f"{gateway.base}/.well-known/oauth-protected-resource/mcp"
    assert extract_scope_from_www_auth(response) == "mcp"
    assert extract_field_from_www_auth(response, "error") is None
    async with httpx2.AsyncClient() as http:
        metadata = await handle_protected_resource_response(await http.get(metadata_url))
    assert metadata is not None
    assert str(metadata.resource) == gateway.url
    assert [str(s).rstrip("/") for s in metadata.authorization_servers] == [issuer.url]
    assert metadata.scopes_supported == ["mcp"] and metadata.bearer_methods_supported == ["header"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", "expired"),
        ("not_yet_valid", "not valid yet"),
        ("wrong_issuer", "another issuer"),
        ("wrong_audience", "not meant for this resource"),
        ("other_endpoint", "not meant for this resource"),
        ("unknown_kid", "does not publish"),
        ("bad_signature", "signature"),
        ("alg_none", "'none'"),
    ],
)
async def test_bad_tokens_are_401_invalid_token(
    gateway: RunningGateway, issuer: Issuer, case: str, reason: str
) -> None:
    aud, scope = gateway.url, "mcp"
    token = {
        "expired": lambda: issuer.mint(aud=aud, scope=scope, expires_in=-120),
        "not_yet_valid": lambda: issuer.mint(aud=aud, scope=scope, not_before=300),
        "wrong_issuer": lambda: issuer.mint(aud=aud, scope=scope, issuer="https://elsewhere.example"),
        "wrong_audience": lambda: issuer.mint(aud="https://api.example.com", scope=scope),
        "other_endpoint": lambda: issuer.mint(aud=gateway.server_url("files"), scope=scope),
        "unknown_kid": lambda: issuer.sign_with_unpublished_key(aud=aud, scope=scope),
        "bad_signature": lambda: issuer.mint(aud=aud, scope=scope)[:-6] + "AAAAAA",
        "alg_none": lambda: issuer.mint_unsigned(aud=aud, scope=scope),
    }[case]()
    response = await post(gateway, token)
    assert response.status_code == 401, response.text
    assert extract_field_from_www_auth(response, "error") == "invalid_token"
    assert extract_resource_metadata_from_www_auth(response) is not None
    assert reason in response.json()["error"]["message"]
    assert token not in gateway.log()


async def test_a_flood_of_unknown_kids_fetches_the_keys_at_most_once(
    gateway: RunningGateway, issuer: Issuer
) -> None:
    await post(gateway, issuer.mint(aud=gateway.url, scope="mcp"))  # the keys are loaded
    before = issuer.requests["jwks"]
    for _ in range(10):
        response = await post(gateway, issuer.sign_with_unpublished_key(aud=gateway.url, scope="mcp"))
        assert response.status_code == 401
    assert issuer.requests["jwks"] - before <= 1


async def test_a_server_that_needs_more_scope_answers_403_and_the_step_up_works(
    gateway: RunningGateway, issuer: Issuer
) -> None:
    url = gateway.server_url("files")
    response = await post(gateway, issuer.mint(aud=url, scope="mcp"), url)
    assert response.status_code == 403
    assert extract_field_from_www_auth(response, "error") == "insufficient_scope"
    assert extract_scope_from_www_auth(response) == "mcp files:read"
    assert extract_resource_metadata_from_www_auth(response) == (
        f"{gateway.base}/.well-known/oauth-protected-resource/servers/files/mcp"
    )
    stepped_up = issuer.mint(aud=url, scope="mcp files:read")
    async with gateway.client(url=url, key=stepped_up) as client:
        assert text_of(await client.call_tool("echo", {"text": "up"})) == "files:up"


async def test_a_token_without_the_required_scope_is_403_everywhere(
    gateway: RunningGateway, issuer: Issuer
) -> None:
    response = await post(gateway, issuer.mint(aud=gateway.url, scope="other"))
    assert response.status_code == 403
    assert extract_scope_from_www_auth(response) == "mcp"
