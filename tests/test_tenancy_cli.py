"""Tenancy end to end: ``portcullis projects | users | keys`` run as subprocesses against a
settings file, and gateways that follow the store without a restart (SQLite, then Redis shared by
two gateway processes)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2

from middleware.auth.api_key import hash_key
from tests.support import (
    ACCEPT_BOTH,
    BOB_KEY,
    INITIALIZE,
    ROOT,
    RunningGateway,
    default_settings,
    free_port,
    running_gateway,
    start_gateway,
    to_toml,
    wait_ready,
)
from tests.test_mrtr_replicas import redis_server

ALICE_KEY = "pcs_alice_declared_in_settings_0000000000"
NEW_KEY = re.compile(r"key (key_[0-9a-f]+) for user .*\n(?:.*\n)*?\s+(pcs_[A-Za-z0-9_\-]{43})\n")


def cli(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args, "--settings", str(settings)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def ok(settings: Path, *args: str) -> str:
    result = cli(settings, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def made_key(settings: Path, *args: str) -> tuple[str, str]:
    """(key id, key) printed by ``keys create`` or ``keys rotate``."""
    found = NEW_KEY.search(ok(settings, "keys", *args))
    assert found, "no key printed"
    return found.group(1), found.group(2)


def tenancy_settings(**extra: Any) -> dict[str, Any]:
    tables: dict[str, Any] = {
        "auth": {"enabled": True, "api_keys": [{"principal": "bob", "sha256": hash_key(BOB_KEY)}]},
        "projects": {"acme": {"servers": ["*"], "description": "declared"}},
        "users": {"alice": {"project": "acme", "keys": [{"name": "laptop", "sha256": hash_key(ALICE_KEY)}]}},
    }
    return default_settings({}, guardrails={"preset": "off"}, **(tables | extra))


def status(gateway: RunningGateway, key: str, session: str | None = None) -> int:
    headers = {"authorization": f"Bearer {key}", "accept": ACCEPT_BOTH}
    body: dict[str, Any] = INITIALIZE
    if session is not None:
        headers |= {"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
        body = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    return httpx2.post(gateway.url, json=body, headers=headers, timeout=10).status_code


def session_of(gateway: RunningGateway, key: str) -> str:
    headers = {"authorization": f"Bearer {key}", "accept": ACCEPT_BOTH}
    response = httpx2.post(gateway.url, json=INITIALIZE, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


def becomes(gateways: list[RunningGateway], expected: dict[str, int], within: float = 4.0) -> float:
    """Seconds until every gateway answers each key with its expected status; fails after
    ``within`` seconds."""
    started = time.monotonic()
    while True:
        codes = {key[:12]: [status(gateway, key) for gateway in gateways] for key in expected}
        if all(code == expected[key] for key in expected for code in codes[key[:12]]):
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"still {codes}, not {expected}, after {within} s"
        time.sleep(0.1)


def test_keys_made_rotated_and_revoked_with_the_cli_apply_without_a_restart(tmp_path: Path) -> None:
    with running_gateway(tmp_path, tenancy_settings()) as gateway:
        path = gateway.settings_path
        assert status(gateway, ALICE_KEY) == 200
        ok(path, "projects", "create", "beta", "--description", "made at run time")
        ok(path, "users", "create", "carol", "--project", "beta", "--role", "ops")
        first_id, first = made_key(path, "create", "carol", "--name", "ci")
        _, brief = made_key(path, "create", "carol", "--name", "brief", "--expires", "3s")
        becomes([gateway], {first: 200, brief: 200})

        listing = ok(path, "keys", "list")
        assert first_id in listing and first[:8] + "..." in listing and "alice/laptop" in listing
        for secret in (first, hash_key(first), hash_key(ALICE_KEY), hash_key(BOB_KEY)):
            assert secret not in listing
        session = session_of(gateway, first)

        # Rotation: both keys work during the grace period, then only the new one; and expiry.
        _, second = made_key(path, "rotate", first_id, "--grace", "2s")
        becomes([gateway], {second: 200})
        assert status(gateway, first) == 200
        becomes([gateway], {first: 401, brief: 401, second: 200}, within=5)
        assert status(gateway, second, session) == 200  # same user, same project: same session

        # A key declared in settings is revoked without a redeploy; a disabled user's keys are
        # refused until it is enabled again.
        ok(path, "keys", "revoke", "alice/laptop")
        ok(path, "users", "disable", "carol")
        becomes([gateway], {ALICE_KEY: 401, second: 401})
        ok(path, "users", "enable", "carol")
        becomes([gateway], {second: 200, ALICE_KEY: 401})

        # A session stays in its project: carol again, but in another project, cannot use it.
        ok(path, "users", "delete", "carol")
        ok(path, "users", "create", "carol", "--project", "acme")
        _, again = made_key(path, "create", "carol")
        becomes([gateway], {again: 200, second: 401})
        assert status(gateway, again, session) == 404

        assert first not in gateway.log() and second not in gateway.log()


def test_cli_refusals_say_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(to_toml(tenancy_settings()))
    refused = cli(path, "keys", "create", "nobody")
    assert refused.returncode == 1 and "users create nobody" in refused.stderr
    refused = cli(path, "users", "delete", "alice")
    assert refused.returncode == 1 and "declared in settings" in refused.stderr

    path.write_text(to_toml(tenancy_settings(users={"carol": {"project": "nope"}})))
    check = cli(path, "check")
    assert check.returncode == 2
    assert "users.carol.project: unknown project 'nope'" in check.stderr and "[projects.nope]" in check.stderr


def test_check_says_when_the_store_is_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(to_toml(tenancy_settings(redis={"url": f"redis://:hunter2@127.0.0.1:{free_port()}/0"})))
    check = cli(path, "check")
    assert check.returncode == 1
    assert "tenancy store: UNREACHABLE" in check.stdout and "1 projects, 2 users, 2 keys" in check.stdout
    assert "hunter2" not in check.stdout + check.stderr


def test_two_gateways_on_one_redis_see_a_revocation_within_seconds(tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        settings = tenancy_settings(redis={"url": url})
        gateways = [start_gateway(tmp_path, settings, wait=False) for _ in range(2)]
        try:
            for gateway in gateways:
                wait_ready(gateway)
            path = gateways[0].settings_path
            key_id, key = made_key(path, "create", "alice", "--name", "ci")
            becomes(gateways, {key: 200, ALICE_KEY: 200})
            ok(gateways[1].settings_path, "keys", "revoke", key_id)
            assert becomes(gateways, {key: 401, ALICE_KEY: 200}, within=4) < 3
            check = cli(path, "check")
            assert check.returncode == 0, check.stderr
            assert "(version 2)" in check.stdout and "tenancy: 1 projects, 2 users, 3 keys" in check.stdout
        finally:
            for gateway in gateways:
                gateway.stop()
