"""Tiny runs of the benchmarks, so that they cannot rot. The real run is slow and is not part of
the test command: ``bash bench/run.sh`` (see README, Benchmark)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.support import ROOT

KINDS = ("(b) echo, HTTP", "(a) SDK, HTTP", "(a) SDK, stdio")


def _rows(output: str) -> list[list[str]]:
    rows = []
    for line in output.splitlines():
        if line.startswith("| ") and not line.startswith(("| upstream", "| memory")):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_benchmark_smoke_run_covers_every_cell_without_errors() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    table = [row for row in _rows(out) if len(row) == 14]
    workloads = {(row[0], row[1]) for row in table}
    for kind in KINDS:
        for workload in ("tools/call", "tools/list", "tools/call 10 MB", "tools/call, c=1 probe"):
            assert (kind, workload) in workloads, out
    for kind in KINDS[1:]:
        assert (kind, "tools/call, c=1 mcp SDK client") in workloads, out
    for workload in ("tools/call, c=1 probe", "tools/call"):  # a 2026-07-28 client too, over (b)
        assert (KINDS[0], f"{workload}, 2026-07-28 client") in workloads, out
    assert any("stack empty" in row[1] for row in table), out
    for row in table:
        direct_rps, gateway_rps = row[4], row[5]
        assert float(gateway_rps.replace(",", "")) > 0, row
        assert direct_rps == "-" or float(direct_rps.replace(",", "")) > 0, row
        assert row[10] in ("0/0", "-/0"), f"errors in {row}"
        if row[3] in ("python", "wrk", "python / wrk"):  # load cells measure the gateway process
            assert float(row[11]) >= 0, row
    memory = [row for row in _rows(out) if len(row) == 3]
    assert any("idle sessions" in row[0] for row in memory), out
    assert any("peak RSS relaying" in row[0] for row in memory), out
    assert "Budget:" in out
    assert "load average" in out
    if shutil.which("wrk") is None:
        assert "wrk is not installed, so the bench fell back to it" in out
    else:
        assert any(row[3] == "wrk" for row in table), out
        assert (KINDS[0], "tools/call, wrk check, 2026-07-28 client") in workloads, out


def test_profile_analysis_counts_self_and_cumulative_time() -> None:
    from bench.profile import analyse, parse_collapsed

    stacks = parse_collapsed(
        "main (gateway/cli.py:10);handle (gateway/front/endpoint.py:20);dumps (orjson.py:1) 3\n"
        "main (gateway/cli.py:10);handle (gateway/front/endpoint.py:20) 1\n"
    )
    text = analyse(stacks, 10)
    assert "|  75.0% | dumps (orjson.py) |" in text
    assert "| 100.0% | handle (gateway/front/endpoint.py) |" in text


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="no valgrind (bash bench/setup.sh installs it)")
def test_instruction_count_smoke_run_reports_a_number_per_checkout_and_stack() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "instructions", str(ROOT), "--calls", "5", "--stack", "empty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [row for row in _rows(result.stdout) if row[0] == str(ROOT)]
    assert len(rows) == 1, result.stdout
    per_request = int(rows[0][1].replace(",", ""))
    # A request through the gateway: not zero, and not the start-up's billions.
    assert 100_000 < per_request < 10_000_000, result.stdout


def test_plugin_cost_smoke_run_reports_every_configuration() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.plugins", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    for label in ("no plugin file", "none", "native no-op", "external no-op, stdio"):
        line = next(line for line in result.stdout.splitlines() if line.startswith(label))
        assert float(line[24:].split()[0]) > 0, line


def test_guardrail_cost_smoke_run_reports_every_case() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.guardrails", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rows = [line for line in result.stdout.splitlines() if " KB" in line or " MB" in line]
    assert len(rows) == 6, result.stdout
    for row in rows:
        bare, guarded, added = (float(value) for value in row.split()[-3:])
        assert guarded > bare and added > 0, row


def test_identity_cost_smoke_run_reports_every_part_and_the_load_comparison() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.identity", "--smoke", "--load"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    rows = {
        cells[1].strip(): cells[2].strip()
        for line in result.stdout.splitlines()
        if line.startswith("| ") and len(cells := line.split("|")) > 3
    }
    for label in ("api key", "cached JWT", "policy check (6 rules, one `when`), tools/call"):
        assert float(rows[label]) > 0, result.stdout
    assert "identity / bare throughput:" in result.stdout, result.stdout
