"""``portcullis install | uninstall``: each client's file gains exactly our entry and loses exactly it.

Against copies of real-looking client files (tests/fixtures/client_configs): everything else in them
must survive byte for byte, comments included; the change is shown (key masked) and backed up; and
the refusals say what to do.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.client_setup.cli import add_commands
from gateway.client_setup.clients import CLIENTS, default_path
from gateway.client_setup.config_files import ConfigError, blank_jsonc, get_entry, remove_entry, set_entry
from gateway.client_setup.review import MASK
from gateway.client_setup.target import DEFAULT_URL, url_problem
from tests.support import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "client_configs"
KEY = "pcs_test_key_do_not_print"
FILES = {
    "claude-desktop": "claude_desktop_config.json",
    "claude-code": "claude.json",
    "cursor": "cursor_mcp.json",
    "vscode": "vscode_mcp.json",
    "windsurf": "windsurf_mcp_config.json",
}


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key, no settings file and no terminal unless a test gives them."""
    monkeypatch.delenv("PORTCULLIS_API_KEY", raising=False)
    monkeypatch.delenv("PORTCULLIS_SETTINGS", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def run(*argv: str) -> int:
    root = argparse.ArgumentParser(prog="portcullis")
    add_commands(root.add_subparsers(dest="command", required=True))
    args = root.parse_args(list(argv))
    code: int = args.handler(args)
    return code


def copy(client: str, tmp_path: Path) -> Path:
    target = tmp_path / FILES[client]
    shutil.copyfile(FIXTURES / FILES[client], target)
    return target


def parsed(path: Path) -> Any:
    return json.loads(blank_jsonc(path.read_text()))


def servers(client: str, path: Path) -> dict[str, Any]:
    found: dict[str, Any] = parsed(path)[CLIENTS[client].servers_key]
    return found


@pytest.mark.parametrize("client", sorted(FILES))
def test_install_only_adds_our_entry_and_uninstall_takes_back_exactly_it(client: str, tmp_path: Path) -> None:
    path = copy(client, tmp_path)
    original = path.read_text()
    assert run("install", client, "--config", str(path), "--yes", "--key", KEY) == 0
    written = path.read_text()
    changes = [
        line for line in difflib.ndiff(original.splitlines(), written.splitlines()) if line[:1] in "+-?"
    ]
    assert changes and all(line.startswith("+") for line in changes), changes  # added, nothing else
    before, after = parsed(FIXTURES / FILES[client]), parsed(path)
    assert list(after) == list(before)  # top-level keys, in their order
    key = CLIENTS[client].servers_key
    assert {name: value for name, value in after[key].items() if name != "portcullis"} == before[key]
    assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in before.items() if k != key}
    assert (tmp_path / (FILES[client] + ".portcullis-backup")).read_text() == original

    assert run("uninstall", client, "--config", str(path), "--yes") == 0
    assert path.read_text() == original
    assert not (tmp_path / (FILES[client] + ".portcullis-backup")).exists()


def test_each_client_gets_its_own_spelling_of_a_remote_entry(tmp_path: Path) -> None:
    bearer = {"Authorization": f"Bearer {KEY}"}
    expected = {
        "claude-code": {"type": "http", "url": DEFAULT_URL, "headers": bearer},
        "cursor": {"url": DEFAULT_URL, "headers": bearer},
        "vscode": {"type": "http", "url": DEFAULT_URL, "headers": bearer},
        "windsurf": {"serverUrl": DEFAULT_URL, "headers": bearer},
    }
    for client, entry in expected.items():
        path = copy(client, tmp_path)
        assert run("install", client, "--config", str(path), "--yes", "--key", KEY) == 0
        assert servers(client, path)["portcullis"] == entry, client


def test_claude_desktop_gets_stdio_in_process_or_forwarding(tmp_path: Path) -> None:
    path = copy("claude-desktop", tmp_path)
    (tmp_path / "settings.toml").write_text("")
    assert run("install", "claude-desktop", "--config", str(path), "--yes", "--key", KEY) == 0
    entry = servers("claude-desktop", path)["portcullis"]
    assert Path(entry["command"]).is_absolute() and Path(entry["command"]).is_file()
    assert entry["args"][-3:] == ["stdio", "--settings", str(tmp_path / "settings.toml")]
    assert entry["env"] == {"PORTCULLIS_API_KEY": KEY}
    url = "https://gw.example/mcp"
    assert run("install", "claude-desktop", "--config", str(path), "--yes", "--key", KEY, "--http", url) == 0
    entry = servers("claude-desktop", path)["portcullis"]
    assert entry["args"][-3:] == ["stdio", "--url", url] and "headers" not in entry


def test_stdio_for_a_client_that_speaks_http(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    settings = tmp_path / "conf" / "gateway.toml"
    assert (
        run("install", "vscode", "--config", str(path), "--yes", "--stdio", "--settings", str(settings)) == 2
    )
    settings.parent.mkdir()
    settings.write_text("")
    assert (
        run("install", "vscode", "--config", str(path), "--yes", "--stdio", "--settings", str(settings)) == 0
    )
    entry = servers("vscode", path)["portcullis"]
    assert entry["type"] == "stdio" and entry["args"][-3:] == ["stdio", "--settings", str(settings)]
    assert "env" not in entry  # no key given: no credential


def test_replacing_an_entry_of_our_name_shows_it_and_uninstall_brings_it_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mcp.json"
    original = '{\n  "mcpServers": {\n    "portcullis": {"command": "npx", "args": ["mcp-remote"]}\n  }\n}\n'
    path.write_text(original)
    assert run("install", "cursor", "--config", str(path), "--yes", "--key", KEY) == 0
    out = capsys.readouterr().out
    assert '-    "portcullis": {"command": "npx", "args": ["mcp-remote"]}' in out
    assert servers("cursor", path)["portcullis"]["url"] == DEFAULT_URL
    assert run("uninstall", "cursor", "--config", str(path), "--yes") == 0
    assert path.read_text() == original  # the backup was put back: it held the user's entry


def test_uninstall_keeps_what_the_user_changed_since_and_keeps_the_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = copy("cursor", tmp_path)
    original = path.read_text()
    assert run("install", "cursor", "--config", str(path), "--yes", "--key", KEY) == 0
    path.write_text(path.read_text().replace("@playwright/mcp@latest", "@playwright/mcp@0.9.0"))
    capsys.readouterr()
    assert run("uninstall", "cursor", "--config", str(path), "--yes") == 0
    assert path.read_text() == original.replace("@playwright/mcp@latest", "@playwright/mcp@0.9.0")
    backup = tmp_path / "cursor_mcp.json.portcullis-backup"
    assert backup.read_text() == original
    assert f"kept {backup}" in capsys.readouterr().out


def test_an_older_backup_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = copy("windsurf", tmp_path)
    original = path.read_text()
    assert run("install", "windsurf", "--config", str(path), "--yes", "--key", KEY) == 0
    assert run("install", "windsurf", "--config", str(path), "--yes", "--key", "pcs_other") == 0
    assert "kept the backup from before the first install" in capsys.readouterr().out
    assert (tmp_path / "windsurf_mcp_config.json.portcullis-backup").read_text() == original
    assert run("uninstall", "windsurf", "--config", str(path), "--yes") == 0
    assert path.read_text() == original


def test_commands_can_be_run_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = copy("claude-code", tmp_path)
    assert run("install", "claude-code", "--config", str(path), "--yes", "--key", KEY) == 0
    written = path.read_text()
    assert run("install", "claude-code", "--config", str(path), "--key", KEY) == 0  # no prompt needed
    assert "nothing to change" in capsys.readouterr().out and path.read_text() == written
    assert run("uninstall", "claude-code", "--config", str(path), "--yes") == 0
    assert run("uninstall", "claude-code", "--config", str(path)) == 0
    assert "nothing to remove" in capsys.readouterr().out
    assert run("uninstall", "cursor", "--config", str(tmp_path / "absent.json")) == 0


def test_claude_code_user_scope_is_the_top_level_not_a_project(tmp_path: Path) -> None:
    path = copy("claude-code", tmp_path)
    assert run("install", "claude-code", "--config", str(path), "--yes") == 0
    data = parsed(path)
    assert data["mcpServers"]["portcullis"]["type"] == "http"
    assert data["projects"]["/home/me/work"]["mcpServers"]["portcullis"]["command"] == "somewhere-else"


def test_dry_run_shows_the_masked_diff_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = copy("vscode", tmp_path)
    original = path.read_text()
    assert run("install", "vscode", "--config", str(path), "--dry-run", "--key", KEY) == 0
    out, err = capsys.readouterr()
    assert f"--- {path}" in out and f'+\t\t\t\t"Authorization": "Bearer {MASK}"' in out
    assert "dry run: nothing written" in out and KEY not in out + err
    assert path.read_text() == original and not list(tmp_path.glob("*.portcullis-backup"))


def test_the_key_is_masked_on_screen_but_real_in_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTCULLIS_API_KEY", KEY)
    path = tmp_path / "claude_desktop_config.json"
    assert run("install", "claude-desktop", "--config", str(path), "--yes") == 0
    assert run("install", "claude-desktop", "--config", str(path), "--yes", "--key", "pcs_second") == 0
    assert run("uninstall", "claude-desktop", "--config", str(path), "--yes") == 0
    out, err = capsys.readouterr()
    assert KEY not in out + err and "pcs_second" not in out + err
    assert f'"PORTCULLIS_API_KEY": "{MASK}"' in out


def test_a_new_file_is_private_and_its_folders_are_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "home" / ".cursor" / "mcp.json"
    assert run("install", "cursor", "--config", str(path), "--yes", "--key", KEY) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "--- /dev/null" in capsys.readouterr().out
    assert json.loads(path.read_text()) == {
        "mcpServers": {"portcullis": {"url": DEFAULT_URL, "headers": {"Authorization": f"Bearer {KEY}"}}}
    }


def test_uninstall_deletes_a_file_install_created_once_it_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "mcp_config.json"
    assert run("install", "windsurf", "--config", str(path), "--yes", "--key", KEY) == 0
    assert run("uninstall", "windsurf", "--config", str(path), "--yes") == 0
    assert not path.exists() and not list(tmp_path.iterdir())
    path.write_text('{\n  "mcpServers": {}\n}\n')  # the user's own file: backed up, so it stays
    assert run("install", "windsurf", "--config", str(path), "--yes", "--key", KEY) == 0
    assert run("uninstall", "windsurf", "--config", str(path), "--yes") == 0
    assert path.read_text() == '{\n  "mcpServers": {}\n}\n'


def test_an_existing_file_keeps_its_mode_and_a_readable_one_is_pointed_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = copy("cursor", tmp_path)
    path.chmod(0o640)
    assert run("install", "cursor", "--config", str(path), "--yes", "--key", KEY) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "cursor_mcp.json.portcullis-backup").stat().st_mode) == 0o640
    assert "readable by others (mode 640)" in capsys.readouterr().err


def test_no_key_writes_no_credential_and_says_how_to_add_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mcp.json"
    assert run("install", "cursor", "--config", str(path), "--yes") == 0
    assert servers("cursor", path)["portcullis"] == {"url": DEFAULT_URL}
    err = capsys.readouterr().err
    assert "no API key" in err and "portcullis keygen" in err and "--key" in err


def test_a_symlinked_file_stays_a_symlink(tmp_path: Path) -> None:
    real = copy("cursor", tmp_path)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert run("install", "cursor", "--config", str(link), "--yes", "--key", KEY) == 0
    assert link.is_symlink() and "portcullis" in servers("cursor", real)


def test_without_a_terminal_it_refuses_unless_yes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = copy("cursor", tmp_path)
    original = path.read_text()
    assert run("install", "cursor", "--config", str(path), "--key", KEY) == 2
    assert "pass --yes" in capsys.readouterr().err
    assert run("uninstall", "cursor", "--config", str(path)) == 0  # nothing there: nothing to ask
    assert path.read_text() == original


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code"), [("y\n", 0), ("n\n", 1), ("\n", 1)])
def test_it_asks_on_a_terminal(
    answer: str,
    code: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = copy("cursor", tmp_path)
    original = path.read_text()
    monkeypatch.setattr(sys, "stdin", _Terminal(answer))
    assert run("install", "cursor", "--config", str(path), "--key", KEY) == code
    assert f"Write {path}? [y/N]" in capsys.readouterr().out
    assert (path.read_text() == original) is (code == 1)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{\n  "mcpServers": {\n    "a": 1,,\n  }\n}\n', ":3:"),
        ('{\n  "mcpServers": {\n', ":3:"),
        ("[1, 2]", "top level is not a JSON object"),
        ('{"mcpServers": []}', '"mcpServers" is not a JSON object'),
    ],
)
def test_a_file_that_is_not_a_client_configuration_is_refused(
    text: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(text)
    assert run("install", "cursor", "--config", str(path), "--yes") == 2
    assert says in capsys.readouterr().err and path.read_text() == text
    assert run("uninstall", "cursor", "--config", str(path), "--yes") == 2


def test_two_entries_of_our_name_or_a_key_with_spaces_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mcp.json"
    path.write_text('{"mcpServers": {"portcullis": {"url": "a"}, "portcullis": {"url": "b"}}}')
    assert run("install", "cursor", "--config", str(path), "--yes") == 2
    assert "2 entries named" in capsys.readouterr().err
    assert run("install", "cursor", "--config", str(tmp_path / "new.json"), "--yes", "--key", "a b") == 2
    assert "one word" in capsys.readouterr().err and not (tmp_path / "new.json").exists()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8787/mcp", True),
        ("http://localhost:9000/mcp", True),
        ("http://[::1]:8787/mcp", True),
        ("https://gw.example/mcp", True),
        ("http://gw.example/mcp", False),
        ("http://10.0.0.5/mcp", False),
        ("ftp://gw.example/mcp", False),
        ("https:///mcp", False),
        ("https://user:pw@gw.example/mcp", False),
        ("https://gw.example:99999/mcp", False),
    ],
)
def test_urls_that_would_leak_the_key_are_refused(url: str, allowed: bool) -> None:
    assert (url_problem(url, allow_insecure=False) is None) is allowed


def test_plain_http_to_another_host_needs_allow_insecure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mcp.json"
    url = "http://gw.internal:8787/mcp"
    assert run("install", "windsurf", "--config", str(path), "--yes", "--http", url) == 2
    assert "clear text" in capsys.readouterr().err and not path.exists()
    assert run("install", "windsurf", "--config", str(path), "--yes", "--http", url, "--allow-insecure") == 0
    assert servers("windsurf", path)["portcullis"] == {"serverUrl": url}


def test_settings_go_with_stdio_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mcp.json"
    assert run("install", "cursor", "--config", str(path), "--yes", "--settings", "s.toml") == 2
    assert "--stdio" in capsys.readouterr().err


def test_a_one_line_file_stays_on_one_line_and_crlf_stays_crlf() -> None:
    compact = '{"mcpServers":{"a":{"command":"x"}},"other":true}'
    added = set_entry(compact, "mcpServers", "p", {"url": "u"}, "f")
    assert added == '{"mcpServers":{"a":{"command":"x"}, "p": {"url": "u"}},"other":true}'
    assert remove_entry(added, "mcpServers", "p", "f") == compact
    windows = '{\r\n  "mcpServers": {\r\n    "a": {}\r\n  }\r\n}\r\n'
    added = set_entry(windows, "mcpServers", "p", {"url": "u"}, "f")
    assert "\n" not in added.replace("\r\n", "") and get_entry(added, "mcpServers", "p", "f") == {"url": "u"}
    assert remove_entry(added, "mcpServers", "p", "f") == windows


def test_the_servers_key_is_added_when_missing_and_empty_objects_are_filled() -> None:
    added = set_entry('{\n\t"theme": "dark"\n}\n', "servers", "p", {"a": 1}, "f")
    assert added == '{\n\t"theme": "dark",\n\t"servers": {\n\t\t"p": {\n\t\t\t"a": 1\n\t\t}\n\t}\n}\n'
    filled = set_entry('{\n  "mcpServers": {}\n}\n', "mcpServers", "p", 1, "f")
    assert filled == '{\n  "mcpServers": {\n    "p": 1\n  }\n}\n'
    assert remove_entry(filled, "mcpServers", "p", "f") == '{\n  "mcpServers": {}\n}\n'
    assert set_entry("", "mcpServers", "p", 1, "f") == '{\n  "mcpServers": {\n    "p": 1\n  }\n}\n'


def test_removing_a_first_or_middle_entry_keeps_the_others() -> None:
    text = '{\n  "s": {\n    "a": 1,\n    "p": 2,\n    "b": 3\n  }\n}'
    assert remove_entry(text, "s", "p", "f") == '{\n  "s": {\n    "a": 1,\n    "b": 3\n  }\n}'
    assert remove_entry(text, "s", "a", "f") == '{\n  "s": {\n    "p": 2,\n    "b": 3\n  }\n}'
    assert remove_entry(text, "s", "zzz", "f") is None


def test_comments_that_look_like_json_are_left_alone() -> None:
    text = '{\n  // "servers": {"p": 1}\n  "servers": {\n    "x": "http://a//b /* not a comment */"\n  }\n}'
    added = set_entry(text, "servers", "p", 2, "f")
    assert added.startswith('{\n  // "servers": {"p": 1}\n') and get_entry(added, "servers", "p", "f") == 2
    assert get_entry(added, "servers", "x", "f") == "http://a//b /* not a comment */"
    with pytest.raises(ConfigError, match=r"f:2:\d+: not valid JSON"):
        get_entry('{\n  "servers": /* unterminated\n}', "servers", "p", "f")


def test_default_locations_per_platform() -> None:
    home = Path("/home/me")
    env = {"APPDATA": "C:/Users/me/AppData/Roaming"}
    assert default_path("claude-desktop", "darwin", {}, home) == (
        home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    )
    assert default_path("claude-desktop", "win32", env, home) == Path(env["APPDATA"]) / "Claude" / (
        "claude_desktop_config.json"
    )
    assert (
        default_path("claude-desktop", "linux", {}, home)
        == home / ".config/Claude/claude_desktop_config.json"
    )
    assert default_path("vscode", "linux", {"XDG_CONFIG_HOME": "/x"}, home) == Path("/x/Code/User/mcp.json")
    assert (
        default_path("vscode", "darwin", {}, home) == home / "Library/Application Support/Code/User/mcp.json"
    )
    assert default_path("vscode", "win32", env, home) == Path(env["APPDATA"]) / "Code" / "User" / "mcp.json"
    for platform in ("linux", "darwin", "win32"):
        assert default_path("claude-code", platform, env, home) == home / ".claude.json"
        assert default_path("cursor", platform, env, home) == home / ".cursor" / "mcp.json"
        assert default_path("windsurf", platform, env, home) == home / ".codeium/windsurf/mcp_config.json"


def _portcullis(*argv: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PORTCULLIS_API_KEY"}
    command = [str(Path(sys.executable).parent / "portcullis"), *argv]
    return subprocess.run(
        command, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )


def test_end_to_end_through_the_installed_command(tmp_path: Path) -> None:
    if "install" not in _portcullis("--help", tmp_path=tmp_path).stdout:
        pytest.skip("`portcullis install` is not wired into gateway/cli.py yet")
    path = copy("cursor", tmp_path)
    done = _portcullis(
        "install", "cursor", "--config", str(path), "--yes", "--key", "K_e2e", tmp_path=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "K_e2e" not in done.stdout + done.stderr
    assert servers("cursor", path)["portcullis"]["headers"] == {"Authorization": "Bearer K_e2e"}
    refused = _portcullis("install", "cursor", "--config", str(path), "--key", "K2", tmp_path=tmp_path)
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
