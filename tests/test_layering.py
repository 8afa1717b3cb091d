"""The layering of DESIGN.md, kept true by import-linter contracts in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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


def test_a_forbidden_import_breaks_the_contract(tmp_path: Path) -> None:
    """The contract is not vacuous: upstream importing gateway is caught."""
    for package in ("gateway", "middleware", "upstream"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    router = tmp_path / "upstream" / "router.py"
    router.write_text(router.read_text() + "\nimport gateway.settings  # a layering violation\n")
    result = run_lint_imports(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
