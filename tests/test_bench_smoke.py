"""A tiny run of the latency benchmark, so it cannot rot (the real run is in the README)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def test_latency_benchmark_runs_and_reports_both_pairs() -> None:
    result = subprocess.run(
        [sys.executable, "bench/latency.py", "--calls", "4", "--warmup", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "calls" not in line]
    assert len(rows) == 2, result.stdout
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1] == "4"
        assert float(cells[2]) > 0
        assert float(cells[3]) > 0
    assert "load average" in result.stdout
