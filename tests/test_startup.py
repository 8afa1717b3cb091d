"""Starting as a new user meets it: `check` catches a command that cannot run, a server that
cannot start does not take the gateway down, /healthz tells the truth, a busy port fails in
one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_settings_cli import cli, write


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        ("portcullis-no-such-command-4242", "was not found on PATH"),
        ("/nonexistent/dir/mcp-server", "does not exist"),
        ("{tmp}", "is not an executable file"),  # a directory
        ("{tmp}/plain.txt", "is not an executable file"),
    ],
)
def test_check_refuses_a_command_that_cannot_run(tmp_path: Path, command: str, complaint: str) -> None:
    (tmp_path / "plain.txt").write_text("not a program\n")
    command = command.format(tmp=tmp_path)
    text = f'[servers.good]\ncommand = "python"\n\n[servers.bad]\ncommand = "{command}"\n'
    result = cli("check", "--settings", str(write(tmp_path, text)))
    assert result.returncode == 2, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("  - servers.bad.command: "), result.stderr
    assert complaint in lines[0]
    assert "Traceback" not in result.stderr


def test_check_accepts_commands_that_run(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "my-server"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o755)
    text = (
        '[servers.py]\ncommand = "python"\n\n'
        '[servers.onpath]\ncommand = "my-server"\nenv = { PATH = "' + str(script.parent) + '" }\n\n'
        '[servers.relative]\ncommand = "./my-server"\ncwd = "bin"\n\n'
        '[servers.remote]\nurl = "https://mcp.example.com/mcp"\n'
    )
    result = cli("check", "--settings", str(write(tmp_path, text)))
    assert result.returncode == 0, result.stderr
    assert "OK (4 servers" in result.stdout
