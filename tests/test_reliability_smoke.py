"""A tiny run of the reliability suite (``python -m reliability --smoke``), so that it cannot
rot and so that its checks run with the tests. The full run is slow and is not part of the
test command: ``python -m reliability all`` (see README, Reliability)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

KNOWN_FINDINGS: set[tuple[str, str]] = set()
"""(part, check) pairs that fail today because of a defect reported but not fixed yet: the test
passes whether they fail or pass. Empty: every defect the suite found is fixed and guarded."""


def test_the_smoke_run_covers_every_part_and_its_checks_hold(tmp_path: Path) -> None:
    figures = tmp_path / "reliability.json"
    result = subprocess.run(
        [sys.executable, "-m", "reliability", "--smoke", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert figures.exists(), result.stderr[-4000:]
    parts = json.loads(figures.read_text())["parts"]
    assert len(parts) == 6, parts.keys()
    failed = {(name, check) for name, part in parts.items() for check, ok in part["checks"].items() if not ok}
    assert failed <= KNOWN_FINDINGS, result.stdout
    fuzz = parts["(a) front-door fuzzing"]["figures"]
    assert fuzz["inputs"] >= 1_500 and fuzz["canary_calls"] > 0 and fuzz["canary_failures"] == 0
    assert "| check / figure | value |" in result.stdout
    assert parts["(e) soak"]["figures"]["requests"] > 0
