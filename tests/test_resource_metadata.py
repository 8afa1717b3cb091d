"""OAuth 2.0 Protected Resource Metadata (RFC 9728) as the MCP authorization spec wants it: the
root document for /mcp, the per-path document of every endpoint, served without authentication,
naming the configured public URL; and none at all when no issuer is configured."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from mcp.client.auth.utils import build_protected_resource_metadata_discovery_urls

from gateway.identity import identity_warnings, metadata_routes
from gateway.settings import Settings
from middleware.auth.resource_metadata import ProtectedResource, canonical, metadata_paths
from tests.support import RunningGateway, default_settings, fixture_server, running_gateway

pytestmark = pytest.mark.timeout(60)

ISSUER = "https://id.example.com/realms/acme"
PUBLIC = "https://mcp.example.com"
WELL_KNOWN = "/.well-known/oauth-protected-resource"


@pytest.fixture(scope="module")
def public_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """A gateway that calls itself https://mcp.example.com (as behind an ingress)."""
    settings = default_settings({"alpha": fixture_server("alpha"), "files": fixture_server("files")})
    settings["auth"]["resource_url"] = PUBLIC + "/"
    settings["auth"]["oidc"] = {
        "issuer": ISSUER,
        "required_scopes": ["mcp"],
        "scopes_supported": ["mcp", "files:read", "files:write"],
        "server_scopes": {"files": ["files:read"]},
    }
    with running_gateway(tmp_path_factory.mktemp("metadata"), settings) as running:
        yield running


def test_every_endpoint_has_its_document_without_authentication(public_gateway: RunningGateway) -> None:
    expected = {
        WELL_KNOWN: ("/mcp", "Portcullis MCP gateway"),
        f"{WELL_KNOWN}/mcp": ("/mcp", "Portcullis MCP gateway"),
        f"{WELL_KNOWN}/servers/alpha/mcp": ("/servers/alpha/mcp", "Portcullis MCP gateway: server alpha"),
        f"{WELL_KNOWN}/servers/files/mcp": ("/servers/files/mcp", "Portcullis MCP gateway: server files"),
    }
    for path, (endpoint, name) in expected.items():
        response = httpx2.get(public_gateway.base + path)  # no credential
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "resource": PUBLIC + endpoint,
            "authorization_servers": [ISSUER],
            "scopes_supported": ["mcp", "files:read", "files:write"],
            "bearer_methods_supported": ["header"],
            "resource_name": name,
        }
    assert httpx2.get(f"{public_gateway.base}{WELL_KNOWN}/servers/nope/mcp").status_code == 404
    assert httpx2.post(f"{public_gateway.base}{WELL_KNOWN}/mcp").status_code == 405


def test_the_challenge_names_the_public_url_and_the_sdk_would_find_it(public_gateway: RunningGateway) -> None:
    response = httpx2.post(public_gateway.server_url("files"), json={})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge == (
        f'Bearer scope="mcp files:read", resource_metadata="{PUBLIC}{WELL_KNOWN}/servers/files/mcp"'
    )
    # The path a client builds when it ignores the header is the one served.
    urls = build_protected_resource_metadata_discovery_urls(None, f"{PUBLIC}/servers/files/mcp")
    assert urls == [f"{PUBLIC}{WELL_KNOWN}/servers/files/mcp", f"{PUBLIC}{WELL_KNOWN}"]


def test_no_issuer_no_documents(gateway: RunningGateway) -> None:
    """The shared gateway of conftest has API keys only."""
    for path in (WELL_KNOWN, f"{WELL_KNOWN}/mcp"):
        assert httpx2.get(gateway.base + path).status_code == 404
    response = httpx2.post(gateway.url, json={})
    assert response.status_code == 401 and response.headers["www-authenticate"] == 'Bearer realm="portcullis"'


def test_the_routes_and_the_resource_description() -> None:
    settings = Settings(auth={"oidc": {"issuer": ISSUER}})
    paths = ["/mcp", "/servers/a/mcp"]
    assert [route.path for route in metadata_routes(settings, paths)] == [
        f"{WELL_KNOWN}/mcp",
        f"{WELL_KNOWN}/servers/a/mcp",
        WELL_KNOWN,
    ]
    assert metadata_routes(Settings(), paths) == []
    assert metadata_paths(["/servers/a/mcp"]) == {f"{WELL_KNOWN}/servers/a/mcp": "/servers/a/mcp"}
    resource = ProtectedResource((ISSUER,), required_scopes=("a",), path_scopes={"/x": ("b", "a")})
    assert resource.scopes_for("/x") == ("a", "b") and resource.scopes_for("/mcp") == ("a",)
    scope = {"scheme": "http", "headers": [(b"host", b'evil"host')]}
    assert resource.base(scope) == "http://localhost"  # a Host that would break the header is not echoed
    assert canonical("HTTPS://MCP.Example.com/Mcp/") == "https://mcp.example.com/Mcp"


def test_settings_are_checked_with_clear_messages() -> None:
    with pytest.raises(ValueError, match="never `none` or HS"):
        Settings(auth={"oidc": {"issuer": ISSUER, "algorithms": ["RS256", "HS256"]}})
    with pytest.raises(ValueError, match="absolute http:// or https:// URL"):
        Settings(auth={"oidc": {"issuer": "id.example.com"}})
    with pytest.raises(ValueError, match=r"missing from auth\.order"):
        Settings(auth={"order": ["api_keys"], "oidc": {"issuer": ISSUER}})
    with pytest.raises(ValueError, match="at most once"):
        Settings(auth={"order": ["api_keys", "api_keys"]})
    with pytest.raises(ValueError, match="is not a scope"):
        Settings(auth={"oidc": {"issuer": ISSUER, "required_scopes": ['a"b']}})
    with pytest.raises(ValueError, match="dotted path"):
        Settings(auth={"oidc": {"issuer": ISSUER, "roles_claim": "realm_access..roles"}})
    one = Settings(auth={"oidc": {"issuer": ISSUER, "audience": "api://gw"}, "resource_url": PUBLIC + "/"})
    assert one.auth.oidc is not None and one.auth.oidc.audience == ["api://gw"]
    assert one.auth.resource_url == PUBLIC
    exposed = Settings(host="0.0.0.0", auth={"oidc": {"issuer": ISSUER, "server_scopes": {"ghost": ["x"]}}})
    warnings = identity_warnings(exposed)
    assert any("auth.resource_url is unset" in w for w in warnings)
    assert any("ghost" in w for w in warnings)
