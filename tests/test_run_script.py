"""tests/run.sh as a new contributor meets it: it says why and how before it installs Redis with
apt, and says what to do where it cannot."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support import ROOT

SCRIPT = ROOT / "tests" / "tools" / "ensure-redis.sh"


def bare_path(tmp_path: Path, *, apt: bool) -> tuple[Path, Path]:
    """A PATH with bash and, if ``apt``, an apt-get that 'installs' a fake redis-server and
    records each call in the output file the script prints to (so the order shows)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    bash = shutil.which("bash")
    assert bash
    (bin_dir / "bash").symlink_to(bash)
    out = tmp_path / "out.txt"
    if apt:
        fake_redis = bin_dir / "redis-server"
        apt_get = bin_dir / "apt-get"
        apt_get.write_text(
            "#!/bin/sh\n"
            f'echo "apt-get $*" >> "{out}"\n'
            f"printf '#!/bin/sh\\n' > \"{fake_redis}\"\n"
            f'{shutil.which("chmod")} +x "{fake_redis}"\n'
        )
        apt_get.chmod(0o755)
    return bin_dir, out


def run(bin_dir: Path, out: Path, **env: str) -> tuple[int, list[str], str]:
    with out.open("ab") as stdout:
        result = subprocess.run(
            [str(bin_dir / "bash"), str(SCRIPT)],
            env={"PATH": str(bin_dir), **env},
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
            check=False,
        )
    lines = out.read_text().splitlines() if out.exists() else []
    return result.returncode, lines, result.stderr


def test_it_says_why_before_installing_redis_with_apt(tmp_path: Path) -> None:
    bin_dir, out = bare_path(tmp_path, apt=True)
    code, lines, stderr = run(bin_dir, out)
    assert code == 0, stderr
    assert len(lines) == 2, lines
    assert "need redis-server" in lines[0] and "installing it with apt" in lines[0]
    assert lines[1] == "apt-get install -y -q redis-server"


def test_without_apt_it_says_what_to_do(tmp_path: Path) -> None:
    bin_dir, out = bare_path(tmp_path, apt=False)
    code, lines, stderr = run(bin_dir, out)
    assert code == 2
    assert not lines
    assert "Redis 6+" in stderr and "REDIS_SERVER=/path" in stderr and "apt-get is not available" in stderr


def test_redis_server_names_one_and_nothing_is_installed(tmp_path: Path) -> None:
    bin_dir, out = bare_path(tmp_path, apt=True)
    redis = tmp_path / "opt" / "redis-server"
    redis.parent.mkdir()
    redis.write_text("#!/bin/sh\n")
    redis.chmod(0o755)
    assert run(bin_dir, out, REDIS_SERVER=str(redis)) == (0, [], "")
    code, _, stderr = run(bin_dir, out, REDIS_SERVER=str(tmp_path / "nowhere"))
    assert code == 2 and "is not an executable file" in stderr
    assert not os.path.exists(bin_dir / "redis-server")  # apt-get was never called
