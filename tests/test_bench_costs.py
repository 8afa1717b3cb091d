"""``python -m bench.costs`` runs and prints each figure (the figures themselves are the bench's,
not the test suite's: timing on a shared machine is not behaviour)."""

from __future__ import annotations

import math

import pytest

from bench.costs import main


def test_the_costs_bench_prints_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--smoke"]) == 0
    rows = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "|---" not in line
    ]
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| metrics (CallMetrics), tools/call",
        "| api key (tenancy authenticator)",
        "| audit record of an allowed call",
    ]


async def test_the_tracing_bench_measures_every_way_a_call_is_traced() -> None:
    from bench.tracing import figures

    measured = await figures(calls=20, rounds=1)
    assert len([name for name in measured if name.startswith("both tiers")]) == 4
    assert all(math.isfinite(value) for value in measured.values())


def test_the_shared_state_bench_compares_redis_with_memory(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.replicas import main as replicas

    assert replicas(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "| state in memory |" in out and "| state in Redis |" in out
    assert "Redis commands per call" in out
