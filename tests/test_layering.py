"""The layering of DESIGN.md, kept true by import-linter contracts in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def run_lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_layering_contracts_hold() -> None:
    result = run_lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


VIOLATIONS = [
    ("upstream/routing/router.py", "import gateway.settings"),
    ("upstream/brand_new.py", "import middleware.edge.body_limit"),
    ("upstream/transports/brand_new.py", "import upstream.routing.router"),
    ("middleware/protocol/brand_new.py", "import middleware.auth.api_key"),
    ("middleware/edge/brand_new.py", "import middleware.telemetry.access_log"),
    ("middleware/brand_new.py", "import upstream.routing.router"),
    ("gateway/front/brand_new.py", "import gateway.app"),
]


@pytest.mark.parametrize(("module", "line"), VIOLATIONS, ids=[v[0] + ": " + v[1] for v in VIOLATIONS])
def test_a_forbidden_import_breaks_the_contract(tmp_path: Path, module: str, line: str) -> None:
    """The contracts are not vacuous, and cover a module written after them."""
    for package in ("gateway", "middleware", "upstream"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    existing = target.read_text() if target.exists() else ""
    target.write_text(existing + f"\n{line}  # a layering violation\n")
    result = run_lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
