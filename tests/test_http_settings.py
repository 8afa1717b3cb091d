"""Settings of HTTP upstreams: what is accepted, and bad values named with their fix."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.remote import http_connector
from gateway.settings import Settings, SettingsError, explain, load_settings
from tests.http_fixtures import make_pki
from tests.support import ROOT, to_toml


def _load(data: dict[str, Any], tmp: Path | None = None) -> Settings:
    """Settings from ``data`` as TOML: through a file in ``tmp`` (relative paths), else directly."""
    if tmp is not None:
        path = tmp / "settings.toml"
        path.write_text(to_toml(data))
        return load_settings(path)
    try:
        return Settings(**tomllib.loads(to_toml(data)))
    except ValidationError as exc:
        raise SettingsError("test", [explain(e) for e in exc.errors()]) from None


def problems_of(servers: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        _load({"servers": servers})
    return caught.value.problems


def test_url_server_defaults() -> None:
    server = _load({"servers": {"r": {"url": "https://mcp.example.com/mcp"}}}).servers["r"]
    assert server.transport == "auto"
    assert server.timeout == 30
    assert server.session_mode == "shared"
    assert server.tls is None
    assert server.max_message_bytes == 64 * 1024 * 1024


def test_url_server_options_are_accepted() -> None:
    server = _load(
        {
            "servers": {
                "r": {
                    "url": "https://mcp.example.com/mcp",
                    "transport": "sse",
                    "timeout": 5,
                    "session_mode": "per_client",
                    "headers": {"Authorization": "Bearer x"},
                    "tls": {"verify": False},
                }
            }
        }
    ).servers["r"]
    assert (server.transport, server.timeout, server.session_mode) == ("sse", 5, "per_client")
    assert server.tls is not None and server.tls.verify is False


@pytest.mark.parametrize(
    ("server", "key", "hints"),
    [
        ({"command": "python", "transport": "sse"}, "servers.s", ["`transport`", "HTTP servers", "`url`"]),
        ({"command": "python", "tls": {"verify": True}}, "servers.s", ["`tls`", "HTTP servers"]),
        ({"url": "http://h/mcp", "tls": {"verify": False}}, "servers.s", ["https://", "remove `tls`"]),
        ({"url": "https://h/mcp", "transport": "websocket"}, "servers.s.transport", ["'auto'", "'sse'"]),
        ({"url": "https://h/mcp", "session_mode": "each"}, "servers.s.session_mode", ["'per_client'"]),
        ({"url": "https://h/mcp", "timeout": 0}, "servers.s.timeout", ["greater than 0"]),
        (
            {"url": "https://h/mcp", "headers": {"Mcp-Session-Id": "x", "Accept": "y"}},
            "servers.s.headers",
            ["Accept, Mcp-Session-Id", "sets these itself", "remove"],
        ),
        (
            {"url": "https://h/mcp", "tls": {"client_key": "k.pem"}},
            "servers.s.tls",
            ["`client_key` needs `client_cert`"],
        ),
        (
            {"url": "https://h/mcp", "tls": {"verify": False, "ca_bundle": "ca.pem"}},
            "servers.s.tls",
            ["no effect", "verify = false"],
        ),
    ],
)
def test_bad_http_settings_name_the_key_and_fix(server: dict[str, Any], key: str, hints: list[str]) -> None:
    problems = problems_of({"s": server})
    matching = [p for p in problems if p.startswith(f"{key}: ")]
    assert matching, problems
    for hint in hints:
        assert hint in matching[0], (hint, matching[0])


def test_relative_tls_paths_are_relative_to_the_settings_file(tmp_path: Path) -> None:
    settings = _load(
        {"servers": {"r": {"url": "https://h/mcp", "tls": {"ca_bundle": "pki/ca.pem"}}}}, tmp_path
    )
    tls = settings.servers["r"].tls
    assert tls is not None
    assert tls.ca_bundle == str(tmp_path / "pki" / "ca.pem")


def test_check_reports_missing_and_bad_tls_files(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    (tmp_path / "pki" / "garbage.pem").write_text("not a certificate")
    text = (
        '[servers.a]\nurl = "https://h/mcp"\ntls = { ca_bundle = "pki/missing.pem" }\n'
        '[servers.b]\nurl = "https://h/mcp"\n'
        f'tls = {{ client_cert = "{pki.client_cert}", client_key = "{pki.client_key}" }}\n'
    )
    path = tmp_path / "settings.toml"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "--settings", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2, result.stdout
    assert "servers.a.tls.ca_bundle: cannot read" in result.stderr
    assert str(tmp_path / "pki" / "missing.pem") in result.stderr
    assert "servers.b" not in result.stderr


def test_unloadable_tls_files_stop_the_gateway_with_the_key(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    server = _load({"servers": {"r": {"url": "https://h/mcp", "tls": {"ca_bundle": str(garbage)}}}}).servers[
        "r"
    ]
    with pytest.raises(SettingsError) as caught:
        http_connector("r", server)
    assert caught.value.problems[0].startswith("servers.r.tls: cannot load the TLS files")
