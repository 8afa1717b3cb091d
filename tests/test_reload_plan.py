"""What a reload may apply in place and what needs a restart, decided without a gateway."""

from __future__ import annotations

from pathlib import Path

from gateway.readiness import Drain
from gateway.reload import key_hashes, pid_path, restart_needed, server_changes
from gateway.settings import Settings
from middleware.auth.api_key import hash_key
from tests.support import ALICE_KEY, BOB_KEY, default_settings, fixture_server


def settings(**overrides: object) -> Settings:
    return Settings(**default_settings({"alpha": fixture_server("alpha")}, **overrides))


def test_listener_and_state_tables_need_a_restart_the_rest_does_not() -> None:
    old = settings()
    assert restart_needed(old, settings()) == []
    new = settings(port=9999, http={"max_body_bytes": 1234}, policies=[{"name": "all", "effect": "allow"}])
    assert restart_needed(old, new) == ["port", "http"]
    keys_only = settings(
        auth={"enabled": True, "api_keys": [{"principal": "alice", "sha256": hash_key(ALICE_KEY)}]}
    )
    assert restart_needed(old, keys_only) == []
    assert restart_needed(old, settings(auth={"enabled": False})) == ["auth (other than api_keys)"]
    assert restart_needed(old, settings(ops={"pid_file": "elsewhere.pid"})) == ["ops.pid_file"]
    traces_and_audit = {"traces": {"enabled": True}, "audit": {"include_allowed": True}}
    assert restart_needed(old, settings(telemetry=traces_and_audit)) == []
    metrics = settings(telemetry={"metrics": {"enabled": False}})
    assert restart_needed(old, metrics) == ["telemetry (other than audit and traces)"]


def test_servers_added_removed_and_changed() -> None:
    old = Settings(servers={"a": fixture_server("a"), "b": fixture_server("b"), "c": fixture_server("c")})
    new = Settings(
        servers={"a": fixture_server("a"), "b": fixture_server("b", "--tools-only"), "d": fixture_server("d")}
    )
    assert server_changes(old, new) == ({"d"}, {"c"}, {"b"})


def test_a_local_key_survives_a_reload_until_keys_are_configured() -> None:
    bare = Settings(auth={"enabled": True})
    running = {hash_key("pcs_local"): "local"}
    assert key_hashes(bare, bare, running) == running
    keyed = settings()
    assert key_hashes(bare, keyed, running) == {hash_key(ALICE_KEY): "alice", hash_key(BOB_KEY): "bob"}


def test_the_pid_file_sits_beside_the_settings_file(tmp_path: Path) -> None:
    assert pid_path(Settings(), tmp_path / "settings.toml") == tmp_path / "portcullis.pid"
    assert pid_path(Settings(ops={"pid_file": ""}), tmp_path / "settings.toml") is None


def test_a_drain_refuses_only_what_would_open_a_session() -> None:
    drain = Drain(retry_after=2)

    def scope(method: str, *headers: tuple[bytes, bytes]) -> dict[str, object]:
        return {"type": "http", "method": method, "headers": list(headers)}

    initialize = scope("POST")
    assert not drain.refuses(initialize)
    drain.begin()
    assert drain.refuses(initialize)
    assert drain.refuses(scope("GET", (b"mcp-session-id", b"s")))
    assert not drain.refuses(scope("POST", (b"mcp-session-id", b"s")))
    assert not drain.refuses(scope("POST", (b"mcp-method", b"tools/call")))
