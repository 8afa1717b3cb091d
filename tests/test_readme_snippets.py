"""The code blocks of README.md and docs/*.md run as shown.

A shell or Python block runs as it stands, unless its first line says otherwise, visibly:
``# test: skip (why)`` is not run (the test command itself, runs of several minutes), and
``# test: serve (...)`` is a long-running ``serve``: its last command is started, must answer
``/healthz`` and print a local key, and the README's Python client runs against it with that key
(the install steps before it are what made this checkout's .venv, so they are not repeated),
and ``# test: tour (...)`` is a step of the README's five-minute tour: the steps share one shell
and one gateway, so ``tests/test_readme_tour.py`` runs them all, in order, and this file does not.
A Python block that needs no gateway (no ``PORTCULLIS_URL``) runs on its own, and each
``print(...)  # TEXT`` line in it must print TEXT.
TOML blocks must parse.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx2
import pytest

from tests.support import ROOT, free_port

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
MARK = re.compile(r"^# test: (skip|serve|tour) \((.+)\)$")


def blocks(*languages: str) -> list[tuple[str, str]]:
    """(where, code) of every fenced block in one of ``languages``."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) in languages:
                line = text[: match.start()].count("\n") + 1
                found.append((f"{document.name}:{line}", match.group(2)))
    return found


def mark(code: str) -> str | None:
    first = code.split("\n", 1)[0]
    if first.startswith("# test:"):
        found = MARK.match(first)
        assert found, f"a test mark must read '# test: skip|serve|tour (why)': {first!r}"
        return found.group(1)
    return None


SHELL = blocks("sh", "bash", "shell", "console")
PYTHON = blocks("python", "py")


def test_the_documents_have_the_blocks_this_test_relies_on() -> None:
    assert [where for where, code in SHELL if mark(code) == "serve"], "no serve block in README.md"
    assert PYTHON, "no Python block"
    assert any("PORTCULLIS_URL" in code for _, code in PYTHON), "no client example for the serve test"


@pytest.mark.parametrize(("where", "code"), [b for b in SHELL if mark(b[1]) is None])
def test_shell_blocks_run(where: str, code: str) -> None:
    result = subprocess.run(["bash", "-euc", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{where}:\n{result.stderr[-2000:]}"


@pytest.mark.parametrize(("where", "code"), blocks("toml"))
def test_toml_blocks_parse(where: str, code: str) -> None:
    tomllib.loads(code)


def _serve_command() -> str:
    code = next(code for _, code in SHELL if mark(code) == "serve")
    lines = [line for line in code.splitlines() if line and not line.startswith("#")]
    assert len(lines) == 1, code
    return lines[0].split("&&")[-1].strip()


def test_serve_starts_answers_healthz_and_the_python_client_runs_against_it(tmp_path: Path) -> None:
    command = _serve_command()
    assert command == ".venv/bin/portcullis serve", command
    argv = [str(Path(sys.executable).parent / "portcullis"), "serve"]
    port = free_port()
    out = tmp_path / "serve.out"
    env = {**os.environ, "PORTCULLIS_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    with out.open("wb") as sink:
        serve = subprocess.Popen(argv, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        key = _wait_for_key_and_health(serve, out, port)
        for where, code in PYTHON:
            if "PORTCULLIS_URL" not in code:
                continue  # a standalone example: test_standalone_python_blocks_print_what_they_say
            script = tmp_path / "example.py"
            script.write_text(code)
            client_env = {
                **os.environ,
                "PORTCULLIS_KEY": key,
                "PORTCULLIS_URL": f"http://127.0.0.1:{port}/mcp",
            }
            result = subprocess.run(
                [sys.executable, str(script)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                env=client_env,
                timeout=60,
            )
            assert result.returncode == 0, f"{where}:\n{result.stderr[-3000:]}"
            assert "demo__add" in result.stdout and "text='5'" in result.stdout, result.stdout[-2000:]
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(15)


@pytest.mark.parametrize(("where", "code"), [b for b in PYTHON if "PORTCULLIS_URL" not in b[1]])
def test_standalone_python_blocks_print_what_they_say(where: str, code: str, tmp_path: Path) -> None:
    """A block that needs no gateway runs as it stands; ``print(...)  # TEXT`` must print TEXT."""
    script = tmp_path / "example.py"
    script.write_text(code)
    argv = [sys.executable, str(script)]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{where}:\n{result.stderr[-3000:]}"
    for line in code.splitlines():
        if line.startswith("print(") and "  # " in line:
            assert line.split("  # ", 1)[1].strip() in result.stdout, f"{where}: {line}\n{result.stdout}"


def _wait_for_key_and_health(serve: subprocess.Popen[bytes], out: Path, port: int) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert serve.poll() is None, out.read_text()
        found = re.search(r"pcs_\S+", out.read_text(errors="replace"))
        if found:
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return found.group(0)
            except httpx2.HTTPError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"serve did not print a key and answer /healthz:\n{out.read_text()}")
