"""``portcullis admin ...`` against a running gateway: as subprocesses (what an operator runs),
and every command in-process through ``gateway.cli.main`` (the same HTTP requests, faster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from tests.support import ROOT, free_port
from tests.test_admin_api import ADMIN_TOKEN, SERVER_SECRET, Admin, admin, mcp_status

__all__ = ["admin"]  # the API tests' gateway, shared

pytestmark = pytest.mark.timeout(60)


def portcullis(admin: Admin, *args: str, token: str | None = ADMIN_TOKEN) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PORTCULLIS_ADMIN_URL": admin.base.removesuffix("/api/v1")}
    env.pop("PORTCULLIS_ADMIN_TOKEN", None)
    if token is not None:
        env["PORTCULLIS_ADMIN_TOKEN"] = token
    command = [sys.executable, "-m", "gateway", "admin", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)


def cli(admin: Admin, capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> Any:
    """One command in-process; its JSON answer (or its stderr when it fails)."""
    url = admin.base.removesuffix("/api/v1")
    resource, action, *rest = args
    assert main(["admin", resource, action, "--url", url, "--token", ADMIN_TOKEN, *rest]) == code
    out, err = capsys.readouterr()
    return err if code else (json.loads(out) if out.lstrip().startswith(("{", "[")) else out)


def test_as_subprocesses(admin: Admin) -> None:
    servers = portcullis(admin, "servers", "list")
    assert servers.returncode == 0, servers.stderr
    assert set(json.loads(servers.stdout)["servers"]) == {"alpha", "beta"}
    exported = portcullis(admin, "config", "export", "--format", "toml")
    assert exported.returncode == 0 and "[servers.alpha" in exported.stdout
    assert SERVER_SECRET not in exported.stdout


def test_refusals(admin: Admin, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = portcullis(admin, "servers", "list", token="pca_wrong")
    assert wrong.returncode == 1 and "needs the admin token" in wrong.stderr and "fix:" in wrong.stderr
    unreachable = f"http://127.0.0.1:{free_port()}"
    assert main(["admin", "servers", "list", "--url", unreachable, "--token", ADMIN_TOKEN]) == 2
    assert "cannot reach" in capsys.readouterr().err


def test_token_makes_a_token_and_its_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "token"]) == 0
    out = capsys.readouterr().out
    assert "pca_" in out and "token_sha256 = " in out


def test_tenancy_commands(admin: Admin, capsys: pytest.CaptureFixture[str]) -> None:
    cli(admin, capsys, "projects", "create", "--name", "web", "--servers", "beta")
    assert "web" in {p["name"] for p in cli(admin, capsys, "projects", "list")}
    cli(admin, capsys, "users", "create", "--name", "erin", "--project", "web", "--roles", "dev")
    key = cli(admin, capsys, "keys", "create", "--user", "erin", "--name", "ci")
    assert mcp_status(admin.gateway, key["key"]) == 200
    assert key["key"] not in json.dumps(cli(admin, capsys, "keys", "list", "--user", "erin"))
    cli(admin, capsys, "keys", "disable", key["id"])
    assert mcp_status(admin.gateway, key["key"]) == 401
    cli(admin, capsys, "keys", "enable", key["id"])
    new = cli(admin, capsys, "keys", "rotate", key["id"], "--grace", "0")
    assert mcp_status(admin.gateway, new["key"]) == 200
    cli(admin, capsys, "keys", "revoke", new["id"])
    cli(admin, capsys, "keys", "delete", key["id"])
    cli(admin, capsys, "users", "disable", "erin")
    cli(admin, capsys, "users", "enable", "erin")
    assert "erin" in {u["name"] for u in cli(admin, capsys, "users", "list")}
    assert "still has users" in cli(admin, capsys, "projects", "delete", "web", code=1)
    cli(admin, capsys, "users", "delete", "erin")
    cli(admin, capsys, "projects", "delete", "web")


def test_runtime_commands(admin: Admin, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no-crash" in [p["name"] for p in cli(admin, capsys, "policies", "list")]
    cli(admin, capsys, "plugins", "mode", "guardrail-pii", "--mode", "audit")
    cli(admin, capsys, "plugins", "disable", "guardrail-pii")
    assert cli(admin, capsys, "plugins", "enable", "guardrail-pii")["mode"] == "audit"
    cli(admin, capsys, "plugins", "mode", "guardrail-pii", "--mode", "enforce")
    assert any(p["name"] == "guardrail-pii" for p in cli(admin, capsys, "plugins", "list"))
    tools = {s["server"]: s for s in cli(admin, capsys, "tools", "list")}
    assert tools["beta"]["listed"] and any(t["exposed"] == "beta__echo" for t in tools["beta"]["tools"])
    assert cli(admin, capsys, "servers", "restart", "beta")["state"] == "restarting"
    session = admin.gateway.headers()
    import httpx2

    from tests.support import INITIALIZE

    started = httpx2.post(admin.gateway.url, json=INITIALIZE, headers=session, timeout=30)
    prefix = started.headers["mcp-session-id"][:10]
    assert any(prefix.startswith(s["id"]) for s in cli(admin, capsys, "sessions", "list"))
    cli(admin, capsys, "sessions", "end", "--", prefix)  # an id may start with "-"
    assert mcp_status(admin.gateway, "pcs_not_a_key_of_this_gateway_000") == 401
    recent = cli(admin, capsys, "audit", "recent", "--limit", "5", "--verdict", "refusals")
    assert recent and recent[0]["verdict"] == "unauthenticated", recent
    for command in (("cache", "status"), ("cache", "clear"), ("timeouts", "show")):
        main(["admin", *command, "--url", admin.base.removesuffix("/api/v1"), "--token", ADMIN_TOKEN])
        capsys.readouterr()


def test_pins_config_and_state_commands(
    admin: Admin, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import asyncio

    async def list_tools() -> None:
        async with admin.gateway.client() as client:
            await client.list_tools()

    asyncio.run(list_tools())
    assert any(p["name"] == "echo" for p in cli(admin, capsys, "pins", "list"))
    assert cli(admin, capsys, "pins", "revoke", "--server", "alpha", "--name", "echo")["state"] != "approved"
    assert cli(admin, capsys, "pins", "approve", "--server", "alpha", "--name", "echo")["state"] == "approved"
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text("port = 9100\n")
    bad.write_text("port = 'x'\n")
    assert cli(admin, capsys, "config", "validate", str(good))["valid"] is True
    assert "port" in cli(admin, capsys, "config", "validate", str(bad), code=1)
    assert (
        cli(admin, capsys, "config", "export")["settings"]["servers"]["alpha"]["env"]["SERVER_TOKEN"] == "***"
    )
    url = admin.base.removesuffix("/api/v1")
    assert main(["admin", "config", "import", str(good), "--url", url, "--token", ADMIN_TOKEN]) in (0, 1)
    capsys.readouterr()
    backup = tmp_path / "backup.json"
    backup.write_text(json.dumps(cli(admin, capsys, "state", "backup")))
    assert cli(admin, capsys, "state", "restore", str(backup), "--replace")["restored"]["pins"] >= 1
    assert cli(admin, capsys, "openapi", "show")["openapi"] == "3.1.0"
