"""The README's five-minute tour runs as shown.

Its steps are the shell blocks of README.md whose first line is ``# test: tour (...)``. A reader
pastes them, in order, into one terminal: they share variables, a scratch directory and a gateway
started in the background. So does this test: it joins them into one script and runs it with
``bash -euo pipefail`` from the clone, on a free port (``PORTCULLIS_PORT``, which the tour reads),
then checks what each step is said to show. Whatever the tour leaves running is stopped with the
script's process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.support import ROOT, free_port
from tests.test_readme_snippets import FENCE, mark

README = ROOT / "README.md"


def tour_steps() -> list[str]:
    """The tour's blocks, in the order they appear."""
    text = README.read_text()
    found = [m.group(2) for m in FENCE.finditer(text) if m.group(1) in ("sh", "bash")]
    return [code for code in found if mark(code) == "tour"]


def test_the_tour_has_its_steps_and_works_in_a_scratch_directory() -> None:
    steps = tour_steps()
    assert len(steps) >= 4, "the README's tour lost its '# test: tour (...)' blocks"
    first = steps[0]
    assert 'cd "$(mktemp -d)"' in first, "the tour must work in a scratch directory, not in the clone"
    assert first.index('cd "$(mktemp -d)"') < first.index("cat >"), "nothing is written before the cd"


def test_the_tour_runs_verbatim_in_one_shell(tmp_path: Path) -> None:
    script = "\n".join(tour_steps())
    env = {key: value for key, value in os.environ.items() if not key.startswith("PORTCULLIS_")}
    env |= {"PORTCULLIS_PORT": str(free_port()), "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    tour = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = tour.communicate(timeout=180)
    finally:
        _stop_group(tour.pid)
    assert tour.returncode == 0, out[-4000:]
    shown = {
        "step 1, the settings are valid": "settings.toml: OK (1 servers: demo)",
        "step 2, the gateway answers": '"status":"ok"',
        "step 3, the client lists the demo tools": "demo__add",
        "step 3, and calls one": "demo__add -> result: 5",
        "step 4, the guardrail blocks": "demo__echo -> error: Blocked by plugin guardrail-arguments",
        "step 5, the metrics count the refused call": 'outcome="tool_error",server="demo",tool="echo"',
        # Verdicts are counted for plugins a reload brought (SIGHUP once skipped that).
        "step 5, and the guardrail's verdict": 'action="blocked",hook="tool_pre_invoke",plugin="guardrail-a',
        "step 5, the audit trail has the allowed call": '"verdict":"allow"',
        "step 5, and the block": '"by":"plugin guardrail-arguments"',
    }
    for step, text in shown.items():
        assert text in out, f"{step}: {text!r} not in the tour's output:\n{out[-4000:]}"
    assert "169.254.169.254" not in _audit_lines(out), "the audit trail must not carry argument values"


def _audit_lines(out: str) -> str:
    return "\n".join(line for line in out.splitlines() if '"logger":"portcullis.audit"' in line)


def _stop_group(pid: int) -> None:
    """The tour's own shell and what it left in the background (the gateway, its servers)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
