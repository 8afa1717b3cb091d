"""Installing the peer gateways :mod:`bench.peers` measures: each from PyPI at a pinned version,
into its own virtualenv under ``.tools/peers/<name>/``, skipped when it is there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    ROOT,
)

PEERS_DIR = ROOT / ".tools" / "peers"


@dataclass(frozen=True)
class Peer:
    name: str
    label: str
    package: str
    version: str
    python: tuple[int, int]
    """The oldest Python the pinned release installs on."""

    @property
    def venv(self) -> Path:
        return PEERS_DIR / self.name

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


CONTEXTFORGE = Peer("contextforge", "IBM ContextForge", "mcp-contextforge-gateway", "1.1.0", (3, 12))
ENKRYPT = Peer("enkrypt", "Enkrypt Secure MCP Gateway", "secure-mcp-gateway", "2.2.4", (3, 11))
PEERS = {peer.name: peer for peer in (CONTEXTFORGE, ENKRYPT)}


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(argv: Sequence[str | Path], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a peer's command line; its output, or an error that carries it."""
    done = subprocess.run(
        [str(arg) for arg in argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{argv[0]} exited with {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout


# --- installing ---------------------------------------------------------------------------------


def python_version(executable: str | Path) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [str(executable), "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return (int(out[0]), int(out[1])) if len(out) == 2 else None


def find_python(minimum: tuple[int, int]) -> str | None:
    """A Python at least ``minimum`` (and below 3.14, which the peers do not support yet): on the
    PATH first, then in pyenv's versions directory (whose shims only run the selected one)."""
    candidates = [shutil.which("python3")] + [shutil.which(f"python3.{minor}") for minor in (12, 13)]
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(path) for path in sorted(versions.glob("3.1[23]*/bin/python3"))]
    for candidate in candidates:
        if candidate is None:
            continue
        version = python_version(candidate)
        if version is not None and minimum <= version < (3, 14):
            return candidate
    return None


def installed_version(peer: Peer) -> str | None:
    python = peer.bin / "python"
    if not python.exists():
        return None
    answer = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))",
            peer.package,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return answer.stdout.strip() if answer.returncode == 0 else None


def install(peer: Peer) -> str | None:
    """Install ``peer`` at its pinned version unless it is there; None, or why it cannot be."""
    if installed_version(peer) == peer.version:
        return None
    python = find_python(peer.python)
    if python is None:
        wanted = ".".join(map(str, peer.python))
        return f"{peer.package} {peer.version} needs Python >= {wanted} (< 3.14); none found on this machine"
    progress(f"installing {peer.package}=={peer.version} with {python} into {peer.venv} ...")
    if peer.venv.exists():
        shutil.rmtree(peer.venv)
    subprocess.run([python, "-m", "venv", str(peer.venv)], check=True)
    log = peer.venv / "install.log"
    with log.open("wb") as out:
        pip = [str(peer.bin / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
        done = subprocess.run([*pip, f"{peer.package}=={peer.version}"], stdout=out, stderr=out, check=False)
    if done.returncode != 0:
        return f"pip install {peer.package}=={peer.version} failed (exit {done.returncode}); see {log}"
    return None
