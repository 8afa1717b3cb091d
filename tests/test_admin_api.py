"""The admin REST API against a real gateway: credential, every operation, nothing secret."""

from __future__ import annotations

import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from middleware.auth.api_key import hash_key
from tests.support import (
    ALICE_KEY,
    INITIALIZE,
    RunningGateway,
    default_settings,
    fixture_server,
    free_port,
    pid_of,
    running_gateway,
    start_gateway,
)

pytestmark = pytest.mark.timeout(60)

ADMIN_TOKEN = "pca_test_admin_token_0123456789abcdef"
SERVER_SECRET = "upstream-s3cret-do-not-show"
POLICIES = [{"name": "no-crash", "effect": "deny", "tools": ["alpha__crash"]}]


class Admin:
    """The admin API of one running gateway."""

    def __init__(self, gateway: RunningGateway, port: int) -> None:
        self.gateway, self.base = gateway, f"http://127.0.0.1:{port}/api/v1"

    def call(
        self, method: str, path: str, token: str | None = ADMIN_TOKEN, **options: Any
    ) -> httpx2.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        headers.update(options.pop("headers", {}))
        return httpx2.request(method, self.base + path, headers=headers, timeout=30, **options)

    def ok(self, method: str, path: str, status: int = 200, **options: Any) -> Any:
        answer = self.call(method, path, **options)
        assert answer.status_code == status, answer.text
        return answer.json()

    def refused(self, method: str, path: str, status: int, **options: Any) -> dict[str, str]:
        answer = self.call(method, path, **options)
        assert answer.status_code == status, answer.text
        error: dict[str, str] = answer.json()["error"]
        assert error["message"] and "fix" in error
        return error


def admin_settings(port: int, **extra: Any) -> dict[str, Any]:
    return default_settings(
        {
            "alpha": fixture_server("alpha", env={"SERVER_TOKEN": SERVER_SECRET}),
            "beta": fixture_server("beta", "--tools-only"),
        },
        policies=POLICIES,
        projects={"acme": {"servers": ["alpha"]}},
        admin={"enabled": True, "port": port, "token_sha256": hash_key(ADMIN_TOKEN)},
        **extra,
    )


_SHARED: dict[str, Admin] = {}


@pytest.fixture(scope="session")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    """One gateway for the API and the CLI tests (imported there): starting one costs seconds."""
    if "admin" in _SHARED:
        yield _SHARED["admin"]
        return
    port = free_port()
    with running_gateway(Path(tmp_path_factory.mktemp("admin")), admin_settings(port)) as gateway:
        _SHARED["admin"] = Admin(gateway, port)
        yield _SHARED["admin"]
        assert gateway.stop() == 0, gateway.log()  # both listeners stop cleanly on SIGTERM
        assert "Traceback" not in gateway.log()


def test_a_port_taken_fails_closed(tmp_path: Path) -> None:
    """No admin listener, no gateway: an operator who asked for one must not find it missing."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        gateway = start_gateway(tmp_path, admin_settings(taken.getsockname()[1]), wait=False)
        try:
            assert gateway.process.wait(30) != 0
        finally:
            gateway.stop()
    assert "admin API: cannot listen on 127.0.0.1" in gateway.log()


def mcp_status(gateway: RunningGateway, key: str) -> int:
    return httpx2.post(gateway.url, json=INITIALIZE, headers=gateway.headers(key), timeout=30).status_code


def test_only_the_admin_token_opens_the_admin_api(admin: Admin) -> None:
    assert admin.refused("GET", "/servers", 401, token=None)["fix"].startswith("send 'Authorization")
    admin.refused("GET", "/servers", 401, token=ALICE_KEY)  # a client key is not an admin token
    admin.refused("GET", "/openapi.json", 401, token="pca_wrong")
    assert mcp_status(admin.gateway, ADMIN_TOKEN) == 401  # nor the admin token a client key
    assert mcp_status(admin.gateway, ALICE_KEY) == 200


def test_unknown_routes_and_methods_answer_in_the_same_shape(admin: Admin) -> None:
    admin.refused("GET", "/nothing-here", 404)
    admin.refused("PUT", "/servers", 405)
    admin.refused("POST", "/projects", 413, content=b"x" * (4 * 1024 * 1024 + 1))
    admin.refused("POST", "/projects", 400, content=b"[1]")
    assert admin.call("GET", "/servers", headers={"host": "evil.example"}).status_code in (400, 403, 421)


def test_servers_list_and_restart(admin: Admin) -> None:
    async def pid() -> int:
        async with admin.gateway.client() as client:
            return await pid_of(client, "alpha__pid")

    import asyncio

    before = asyncio.run(pid())
    servers = admin.ok("GET", "/servers")["servers"]
    assert servers["alpha"]["state"] == "running" and "beta" in servers
    assert SERVER_SECRET not in admin.call("GET", "/servers").text
    assert admin.ok("POST", "/servers/alpha/restart") == {"server": "alpha", "state": "restarting"}
    admin.refused("POST", "/servers/nope/restart", 404)
    assert asyncio.run(pid()) != before


def test_projects_users_and_keys(admin: Admin) -> None:
    admin.ok("POST", "/projects", 201, json={"name": "ops", "servers": ["beta"], "description": "d"})
    assert {p["name"] for p in admin.ok("GET", "/projects")} >= {"acme", "ops"}
    admin.refused("POST", "/projects", 409, json={"name": "ops"})
    admin.refused("POST", "/projects", 400, json={"servers": "beta"})
    admin.ok("POST", "/users", 201, json={"name": "dave", "project": "ops", "roles": ["dev"]})
    made = admin.ok("POST", "/keys", 201, json={"user": "dave", "name": "laptop", "expires_in": 3600})
    key, ident = made["key"], made["id"]
    assert key.startswith("pcs_") and mcp_status(admin.gateway, key) == 200
    listed = admin.call("GET", "/keys", params={"user": "dave"})
    assert key not in listed.text and hash_key(key) not in listed.text
    assert [k["id"] for k in listed.json()] == [ident]
    assert admin.ok("POST", f"/keys/{ident}/disable")["state"] == "disabled"
    assert mcp_status(admin.gateway, key) == 401
    admin.ok("POST", f"/keys/{ident}/enable")
    assert mcp_status(admin.gateway, key) == 200
    rotated = admin.ok("POST", f"/keys/{ident}/rotate", json={"grace": 0})
    assert mcp_status(admin.gateway, rotated["key"]) == 200 and mcp_status(admin.gateway, key) == 401
    admin.ok("POST", f"/keys/{rotated['id']}/revoke")
    assert mcp_status(admin.gateway, rotated["key"]) == 401
    admin.ok("POST", "/users/dave/disable")
    assert next(u for u in admin.ok("GET", "/users") if u["name"] == "dave")["disabled"]
    admin.ok("POST", "/users/dave/enable")
    admin.ok("DELETE", f"/keys/{ident}")
    admin.refused("DELETE", "/projects/ops", 409)  # dave is still in it
    assert admin.ok("DELETE", "/users/dave")["deleted"] == "dave"
    admin.ok("DELETE", "/projects/ops")
    admin.refused("POST", "/keys/nobody/revoke", 409)


def test_plugins_modes_change_at_run_time(admin: Admin) -> None:
    plugins = {p["name"]: p for p in admin.ok("GET", "/plugins")}
    assert plugins["guardrail-secrets"]["mode"] == "enforce"
    assert admin.ok("POST", "/plugins/guardrail-secrets/mode", json={"mode": "audit"})["mode"] == "audit"
    assert admin.ok("POST", "/plugins/guardrail-secrets/disable")["mode"] == "disabled"
    assert admin.ok("POST", "/plugins/guardrail-secrets/enable")["mode"] == "audit"
    admin.ok("POST", "/plugins/guardrail-secrets/mode", json={"mode": "enforce"})
    admin.refused("POST", "/plugins/guardrail-secrets/mode", 400, json={"mode": "loud"})
    admin.refused("POST", "/plugins/nope/disable", 404)


def test_policies_pins_sessions(admin: Admin) -> None:
    assert admin.ok("GET", "/policies")[0]["name"] == "no-crash"
    import asyncio

    async def list_tools() -> None:
        async with admin.gateway.client() as client:
            await client.list_tools()

    asyncio.run(list_tools())
    pins = admin.ok("GET", "/pins")
    assert any(p["server"] == "alpha" and p["name"] == "echo" for p in pins)
    approved = admin.ok("POST", "/pins/approve", json={"server": "alpha", "name": "echo", "kind": "tool"})
    assert approved["state"] == "approved"
    admin.refused("POST", "/pins/approve", 404, json={"server": "alpha", "name": "nope"})
    session = httpx2.post(admin.gateway.url, json=INITIALIZE, headers=admin.gateway.headers(), timeout=30)
    session_id = session.headers["mcp-session-id"]
    listed = admin.call("GET", "/sessions")
    assert session_id not in listed.text
    mine = [s for s in listed.json() if session_id.startswith(s["id"])]
    assert mine and mine[0]["principal"] == "alice" and mine[0]["era"] == "2025"
    admin.refused("DELETE", "/sessions/abc", 400)
    admin.ok("DELETE", f"/sessions/{session_id[:12]}")
    assert not [s for s in admin.ok("GET", "/sessions") if session_id.startswith(s["id"])]
    admin.refused("DELETE", f"/sessions/{session_id[:12]}", 404)


def test_cache_and_timeouts(admin: Admin) -> None:
    assert "counts" in admin.ok("GET", "/cache")
    assert isinstance(admin.ok("POST", "/cache/clear", json={"server": "alpha"})["cleared"], int)
    assert "tools/call" in str(admin.ok("GET", "/timeouts")) or admin.ok("GET", "/timeouts")


def test_config_export_masks_secrets_and_validates(admin: Admin) -> None:
    exported = admin.call("GET", "/config")
    assert SERVER_SECRET not in exported.text
    data = exported.json()["settings"]
    assert data["servers"]["alpha"]["env"]["SERVER_TOKEN"] == "***"
    text = admin.ok("GET", "/config", params={"format": "toml"})["text"]
    assert (
        SERVER_SECRET not in text and tomllib.loads(text)["servers"]["alpha"]["env"]["SERVER_TOKEN"] == "***"
    )
    assert admin.ok("POST", "/config/validate", json={"toml": 'port = 9000\n[servers.x]\ncommand = "python"'})
    error = admin.refused("POST", "/config/validate", 400, json={"toml": "port = 'nine'"})
    assert "port" in error["message"]
    admin.refused("POST", "/config/validate", 400, json={"toml": "port = "})
    admin.refused("POST", "/config/import", 400, json={"settings": data})  # masked values


def test_backup_and_restore(admin: Admin) -> None:
    admin.ok("POST", "/projects", 201, json={"name": "kept"})
    saved = admin.ok("GET", "/backup")
    assert any(row["id"] == "kept" for row in saved["tenancy"])
    admin.ok("DELETE", "/projects/kept")
    assert "kept" not in {p["name"] for p in admin.ok("GET", "/projects")}
    restored = admin.ok("POST", "/restore", json=saved)["restored"]
    assert restored["tenancy"] == len(saved["tenancy"]) and restored["pins"] == len(saved["pins"])
    assert "kept" in {p["name"] for p in admin.ok("GET", "/projects")}
    admin.ok("DELETE", "/projects/kept")
    admin.refused("POST", "/restore", 400, json={"format": "other"})


def test_every_documented_route_is_served(admin: Admin) -> None:
    """Each path and method of the served document reaches a handler (not the router's 404/405);
    with placeholder names and empty bodies, none of them changes anything (all are refused)."""
    spec = admin.ok("GET", "/openapi.json")
    assert spec["openapi"].startswith("3.1")
    router_fix = "GET /api/v1/openapi.json lists every route and method"
    for path, methods in spec["paths"].items():
        concrete = path.removeprefix("/api/v1").replace("{", "zz-").replace("}", "")
        for method in methods:
            answer = admin.call(method.upper(), concrete, json={})
            assert answer.status_code != 405, (method, path)
            body = answer.json()
            assert not (isinstance(body, dict) and body.get("error", {}).get("fix") == router_fix), (
                method,
                path,
            )


def test_config_import_applies_by_reload(admin: Admin) -> None:
    """An export, its secret put back and a policy added, applied as SIGHUP would."""
    settings = admin.ok("GET", "/config")["settings"]
    settings["servers"]["alpha"]["env"]["SERVER_TOKEN"] = SERVER_SECRET
    settings["policies"].append({"name": "no-fail", "effect": "deny", "tools": ["alpha__fail"]})
    applied = admin.ok("POST", "/config/import", json={"settings": settings})
    assert applied["applied"] and applied["servers"] == ["alpha", "beta"]
    assert [p["name"] for p in admin.ok("GET", "/policies")] == ["no-crash", "no-fail"]
    assert mcp_status(admin.gateway, ALICE_KEY) == 200
