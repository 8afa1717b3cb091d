"""Settings and the command line, run as an operator would: ``python -m gateway ...``.

Bad settings fail before anything starts, naming every bad key and its fix; the environment
overrides the file; ``serve`` refuses unsafe setups; local keys and ``keygen`` keys work.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx2

from tests.support import (
    ACCEPT_BOTH,
    ALICE_KEY,
    INITIALIZE,
    ROOT,
    RunningGateway,
    default_settings,
    fixture_server,
    free_port,
    running_gateway,
    to_toml,
    wait_ready,
)

KEY = re.compile(r"pcs_[A-Za-z0-9_\-]+")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without PORTCULLIS_ variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PORTCULLIS_")}
    return {**env, **(extra or {})}


def cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_many(
    runs: Sequence[tuple[Sequence[str], Mapping[str, str] | None]], timeout: float = 30
) -> list[tuple[int, str]]:
    """Several ``cli`` runs at once (each costs an interpreter start); (exit code, stderr) each."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gateway", *args],
            cwd=ROOT,
            env=clean_env(env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, env in runs
    ]
    results = []
    for process in processes:
        try:
            _, stderr = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        results.append((process.returncode, stderr))
    return results


def write(tmp_path: Path, text: str, name: str = "settings.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problem_lines(output: str) -> dict[str, str]:
    """``  - key: message`` lines of a settings report, by key."""
    lines = {}
    for line in output.splitlines():
        match = re.match(r"^\s*- (.+?): (.*)$", line)
        if match:
            lines[match.group(1)] = match.group(2)
    return lines


def launch(tmp_path: Path, settings_text: str, env: Mapping[str, str] | None = None) -> RunningGateway:
    """``serve`` on a settings file written verbatim, with ``--port`` unless the env sets it."""
    port = int((env or {}).get("PORTCULLIS_PORT", 0)) or free_port()
    settings_path = write(tmp_path, settings_text, f"verbatim-{port}.toml")
    log_path = tmp_path / f"serve-{port}.log"
    command = [sys.executable, "-m", "gateway", "serve", "--settings", str(settings_path)]
    if "PORTCULLIS_PORT" not in (env or {}):
        command += ["--port", str(port)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=clean_env(env)
        )
    gateway = RunningGateway(process, port, log_path, settings_path)
    try:
        wait_ready(gateway)
    except BaseException:
        gateway.stop()
        raise
    return gateway


@contextlib.contextmanager
def served(
    tmp_path: Path, settings_text: str, env: Mapping[str, str] | None = None
) -> Iterator[RunningGateway]:
    gateway = launch(tmp_path, settings_text, env=env)
    try:
        yield gateway
    finally:
        gateway.stop()


@contextlib.contextmanager
def occupied_port() -> Iterator[int]:
    """A port bound on loopback and never listened on: a gateway that wrongly went ahead and
    tried to listen on it (on any address) could not, so these tests never expose anything."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


def initialize(gateway: RunningGateway, key: str | None) -> httpx2.Response:
    headers = {"accept": ACCEPT_BOTH, "content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    return httpx2.post(gateway.url, headers=headers, content=json.dumps(INITIALIZE).encode(), timeout=15)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- check ------------------------------------------------------------------------------------


def test_check_accepts_the_repository_settings() -> None:
    result = cli("check", "--settings", "settings.toml")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    assert "demo" in result.stdout  # it says what it found


BAD_SETTINGS = """\
bogus = 1
port = "abc"

[routing]
separator = "::"

[[auth.api_keys]]
principal = "x"
sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542"

[[middleware]]
use = "middleware/timeouts.py"

[[middleware]]
use = "middleware.no_such_module:Thing"

[servers.alpha]
comand = "python"
command = "python"

[servers.both]
command = "python"
url = "https://mcp.example.com/mcp"

[servers.neither]
args = ["x"]

[servers.one]
command = "python"
prefix = "shared"

[servers.two]
command = "python"
prefix = "shared"

[servers."bad name!"]
command = "python"
"""

# (dotted key, words its message must contain: what is wrong and how to fix it)
EXPECTED_PROBLEMS = [
    ("bogus", ["unknown key", "remove it"]),
    ("port", ["integer", "'abc'"]),
    ("routing.separator", ["letters, digits"]),
    ("auth.api_keys[0].sha256", ["64", "hex", "portcullis keygen"]),
    ("middleware[0].use", ["package.module:ClassName"]),
    ("middleware[1].use", ["cannot import", "middleware.no_such_module"]),
    ("servers.alpha.comand", ["unknown key", "spelling"]),
    ("servers.both", ["exactly one of `command`", "`url`"]),
    ("servers.neither", ["exactly one of `command`", "`url`"]),
    ("servers.two.prefix", ["'one'", "'shared'", "distinct `prefix`"]),
    ("servers.bad name!", ["letters, digits", "'_' or '-'"]),
]


def test_check_names_every_bad_key_with_its_fix_in_one_run(tmp_path: Path) -> None:
    result = cli("check", "--settings", str(write(tmp_path, BAD_SETTINGS)))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "OK" not in result.stdout
    assert str(tmp_path / "settings.toml") in result.stderr  # which file is wrong
    problems = problem_lines(result.stderr)
    missing = [key for key, _ in EXPECTED_PROBLEMS if key not in problems]
    assert not missing, f"not reported: {missing}\n{result.stderr}"
    for key, hints in EXPECTED_PROBLEMS:
        for hint in hints:
            assert hint in problems[key], f"{key}: {hint!r} not in {problems[key]!r}"


ALONE = [
    ('[servers."bad name!"]\ncommand = "python"\n', "servers.bad name!", "letters, digits"),
    (
        '[servers.a]\ncommand = "python"\nprefix = "p"\n[servers.b]\ncommand = "python"\nprefix = "p"\n',
        "servers.b.prefix",
        "distinct `prefix`",
    ),
    ('[[middleware]]\nuse = "middleware.no_such_module:Thing"\n', "middleware[0].use", "cannot import"),
    ('[[middleware]]\nuse = "middleware.timeouts:NoSuchClass"\n', "middleware[0].use", "NoSuchClass"),
]


def test_check_reports_each_cross_key_problem_alone_with_the_file(tmp_path: Path) -> None:
    paths = [write(tmp_path, text, f"alone-{i}.toml") for i, (text, _, _) in enumerate(ALONE)]
    results = cli_many([(("check", "--settings", str(path)), None) for path in paths])
    for path, (_, key, hint), (code, stderr) in zip(paths, ALONE, results, strict=True):
        assert code == 2, stderr
        assert f"invalid settings in {path}" in stderr  # the file, not a placeholder
        problems = problem_lines(stderr)
        assert key in problems, stderr
        assert hint in problems[key]


def test_check_reports_invalid_toml_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 8787\n\n[auth\nenabled = true\n")
    result = cli("check", "--settings", str(path))
    assert result.returncode == 2
    assert "not valid TOML" in result.stderr
    assert "line 3" in result.stderr
    assert str(path) in result.stderr


def test_check_reports_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    result = cli("check", "--settings", str(path))
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_http_upstream_passes_check(tmp_path: Path) -> None:
    path = write(tmp_path, '[servers.remote]\nurl = "https://mcp.example.com/mcp"\n')
    checked = cli("check", "--settings", str(path))
    assert checked.returncode == 0, checked.stderr
    assert "remote" in checked.stdout


# --- the environment overrides the file -------------------------------------------------------


def test_env_port_overrides_the_file(tmp_path: Path) -> None:
    file_port, env_port = free_port(), free_port()
    text = to_toml(default_settings({}, port=file_port))
    with served(tmp_path, text, env={"PORTCULLIS_PORT": str(env_port)}) as gateway:
        assert gateway.port == env_port
        assert httpx2.get(f"http://127.0.0.1:{env_port}/healthz", timeout=5).status_code == 200
        assert not listening(file_port)
        assert f"serving http://127.0.0.1:{env_port}/mcp" in gateway.log()


def test_env_can_disable_auth_on_loopback(tmp_path: Path) -> None:
    settings = default_settings({"alpha": fixture_server("alpha")})
    with running_gateway(tmp_path, settings, env={"PORTCULLIS_AUTH__ENABLED": "false"}) as gateway:
        response = initialize(gateway, None)
        assert response.status_code == 200, response.text
        assert response.json()["result"]["serverInfo"]["name"] == "portcullis"


BAD_ENV = [
    ("PORTCULLIS_PORT", "abc", "port"),
    ("PORTCULLIS_AUTH__ENABLED", "maybe", "auth.enabled"),
    ("PORTCULLIS_HTTP__MAX_BODY_BYTES", "-5", "http.max_body_bytes"),
]


def test_bad_env_value_is_reported_with_its_key() -> None:
    results = cli_many(
        [(("check", "--settings", "settings.toml"), {var: value}) for var, value, _ in BAD_ENV]
    )
    for (_, value, key), (code, stderr) in zip(BAD_ENV, results, strict=True):
        assert code == 2, stderr
        problems = problem_lines(stderr)
        assert key in problems, stderr
        assert value in problems[key]


# --- serve refuses unsafe setups --------------------------------------------------------------


def test_serve_refuses_auth_disabled_off_loopback(tmp_path: Path) -> None:
    path = write(tmp_path, "[auth]\nenabled = false\n")
    with occupied_port() as port:
        result = cli("serve", "--settings", str(path), "--host", "0.0.0.0", "--port", str(port))
    assert result.returncode != 0
    assert "refusing to serve" in result.stderr
    assert "enable auth or listen on 127.0.0.1" in result.stderr
    assert "Uvicorn running" not in result.stderr


def test_serve_refuses_no_keys_off_loopback(tmp_path: Path) -> None:
    path = write(tmp_path, "[auth]\nenabled = true\n")
    with occupied_port() as port:
        result = cli("serve", "--settings", str(path), "--host", "0.0.0.0", "--port", str(port))
    assert result.returncode != 0
    assert "no auth.api_keys" in result.stderr
    assert "portcullis keygen" in result.stderr
    assert not KEY.search(result.stderr)  # no local key is handed out off loopback


def test_check_refuses_what_serve_would_refuse() -> None:
    result = cli("check", "--settings", "settings.toml", env={"PORTCULLIS_HOST": "0.0.0.0"})
    assert result.returncode == 2
    assert "portcullis keygen" in result.stderr


# --- keys -------------------------------------------------------------------------------------


def test_local_key_works_and_never_reaches_the_logs(tmp_path: Path) -> None:
    settings: dict[str, Any] = {
        "auth": {"enabled": True},
        "logging": {"level": "debug"},
        "servers": {"alpha": fixture_server("alpha")},
    }
    with running_gateway(tmp_path, settings) as gateway:
        banner = gateway.log()
        keys = KEY.findall(banner)
        assert len(keys) == 1, banner
        key = keys[0]
        assert "No API keys configured" in banner

        assert initialize(gateway, None).status_code == 401
        assert initialize(gateway, ALICE_KEY).status_code == 401
        response = initialize(gateway, key)
        assert response.status_code == 200, response.text
        session_id = response.headers["mcp-session-id"]

        # Make the gateway log things that contain the key: a method named after it
        # (access log) and a client response whose id is the key (debug log).
        headers = {
            "accept": ACCEPT_BOTH,
            "content-type": "application/json",
            "authorization": f"Bearer {key}",
            "mcp-session-id": session_id,
        }
        for message in (
            {"jsonrpc": "2.0", "id": 2, "method": f"tools/{key}"},
            {"jsonrpc": "2.0", "id": key, "result": {}},
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "alpha__echo", "arguments": {"text": key}},
            },
        ):
            httpx2.post(gateway.url, headers=headers, content=json.dumps(message).encode(), timeout=15)
        gateway.stop()
        log = gateway.log()

    after_banner = log.split(key, 1)[1]
    assert key not in after_banner
    assert key[4:12] not in after_banner  # not even partly
    assert "pcs_****" in after_banner  # the lines that carried it were written, masked
    assert "principal=local" in after_banner


def test_keygen_block_configures_a_working_key(tmp_path: Path) -> None:
    result = cli("keygen", "--principal", "carol")
    assert result.returncode == 0, result.stderr
    keys = KEY.findall(result.stdout)
    assert len(keys) == 1, result.stdout
    key = keys[0]
    block = result.stdout[result.stdout.index("[[auth.api_keys]]") :]
    assert 'principal = "carol"' in block
    assert key not in block  # only the hash is stored

    text = to_toml({"logging": {"level": "info"}, "servers": {"alpha": fixture_server("alpha")}})
    with served(tmp_path, text + "\n" + block) as gateway:
        assert initialize(gateway, "pcs_not_carols_key_0000000000").status_code == 401
        response = initialize(gateway, key)
        assert response.status_code == 200, response.text
        assert "No API keys configured" not in gateway.log()  # the configured key is used
        gateway.stop()
        assert "principal=carol" in gateway.log()
