"""Run the MCP conformance suite's server scenarios and report per-scenario results.

Needs the Node tools from ``tests/tools/install-node-tools.sh`` (Node 22 and both conformance
versions under ``.tools/``). Two suites are known:

- ``0.1.16``: ``conformance server --url URL --suite all`` (32 scenarios);
- ``0.2.0-alpha.12``: ``conformance server --url URL --suite all --spec-version 2025-11-25``
  (33 scenarios: its active suite of 31 plus the pending ``json-schema-2020-12`` and
  ``server-sse-polling``). The alpha also validates every message on the wire against the
  2025-11-25 JSON schema (check ``wire-schema-valid``).

The CLI writes one ``checks.json`` per scenario (``-o DIR``: ``DIR/server-<scenario>-<time>/``);
each check is SUCCESS, FAILURE, WARNING, INFO or SKIPPED, and a scenario passes when none of its
checks failed. Its exit code is 1 when any scenario failed.

Usage::

    python tests/conformance/run.py --url http://127.0.0.1:3001/mcp --suite 0.1.16
    python tests/conformance/run.py                       # direct and through the gateway, both suites
    python tests/conformance/run.py --target gateway --json results.json

``--target direct`` runs the fixture server over streamable HTTP; ``--target gateway`` runs the
gateway (auth off, loopback) with the fixture as stdio upstream ``conf`` (prefix emptied) and
tests both ``/servers/conf/mcp`` and ``/mcp``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("PORTCULLIS_TOOLS_DIR", ROOT / ".tools"))
INSTALLER = ROOT / "tests" / "tools" / "install-node-tools.sh"
FIXTURE = ROOT / "tests" / "conformance" / "fixture_server.py"

# The exit code install-node-tools.sh uses when the npm registry cannot be reached.
REGISTRY_UNREACHABLE = 3


@dataclass(frozen=True)
class Suite:
    """One pinned version of the conformance package and the arguments its server run takes."""

    version: str
    select: tuple[str, ...]  # which scenarios: a --suite
    spec: tuple[str, ...] = ()  # which spec version they are judged against

    @property
    def args(self) -> tuple[str, ...]:
        return (*self.select, *self.spec)

    @property
    def binary(self) -> Path:
        return TOOLS / f"conformance-{self.version}" / "node_modules" / ".bin" / "conformance"


SUITES: dict[str, Suite] = {
    "0.1.16": Suite("0.1.16", ("--suite", "all")),
    "0.2.0-alpha.12": Suite("0.2.0-alpha.12", ("--suite", "all"), ("--spec-version", "2025-11-25")),
}

PASS, FAIL, SKIPPED, ERROR = "pass", "fail", "skipped", "error"


@dataclass
class ScenarioResult:
    name: str
    status: str  # pass | fail | skipped (no checks: not applicable) | error (no result written)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def ids(self, status: str) -> set[str]:
        return {check["id"] for check in self.checks if check.get("status") == status}

    @property
    def failures(self) -> list[str]:
        """``id: errorMessage`` of every failed check."""
        return [
            f"{check['id']}: {check.get('errorMessage') or check.get('description', '')}"
            for check in self.checks
            if check.get("status") == "FAILURE"
        ]

    def count(self, status: str) -> int:
        return sum(1 for check in self.checks if check.get("status") == status)

    def summary(self) -> str:
        detail = f"{self.count('SUCCESS')} ok"
        for label, status in (("failed", "FAILURE"), ("warnings", "WARNING")):
            if self.count(status):
                detail += f", {self.count(status)} {label}"
        return f"{self.status} ({detail})"


@dataclass
class SuiteRun:
    suite: str
    url: str
    scenarios: dict[str, ScenarioResult]
    exit_code: int
    seconds: float
    output: str = ""

    def counts(self) -> dict[str, int]:
        counts = {PASS: 0, FAIL: 0, SKIPPED: 0, ERROR: 0}
        for result in self.scenarios.values():
            counts[result.status] += 1
        return counts

    def passed(self) -> set[str]:
        return {name for name, result in self.scenarios.items() if result.status == PASS}

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "url": self.url,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 2),
            "counts": self.counts(),
            "scenarios": {
                name: {
                    "status": result.status,
                    "failures": result.failures,
                    "checks": [
                        {
                            k: check.get(k)
                            for k in ("id", "status", "errorMessage")
                            if check.get(k) is not None
                        }
                        for check in result.checks
                    ],
                }
                for name, result in self.scenarios.items()
            },
        }


class ToolsMissing(RuntimeError):
    """The Node tools are not installed (run tests/tools/install-node-tools.sh)."""


def node_env() -> dict[str, str]:
    """The environment with the project's Node 22 first on PATH (npx and bin shims use it)."""
    node_bin = TOOLS / "node" / "bin"
    if not (node_bin / "node").exists():
        raise ToolsMissing(f"{node_bin / 'node'} is missing: run {INSTALLER.relative_to(ROOT)}")
    return {**os.environ, "PATH": f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}


def install_tools(*, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the idempotent installer; returns the completed process (see REGISTRY_UNREACHABLE)."""
    return subprocess.run(
        ["bash", str(INSTALLER)],
        cwd=ROOT,
        capture_output=quiet,
        text=True,
        timeout=900,
    )


_RESULT_DIR = re.compile(r"^server-(?P<name>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")
_RUNNING = re.compile(r"^=== Running scenario: (?P<name>\S+) ===$", re.MULTILINE)


def parse_results(output_dir: Path, order: Iterable[str] = ()) -> dict[str, ScenarioResult]:
    """Read ``server-<scenario>-<time>/checks.json`` files; scenarios in ``order`` without one are errors."""
    found: dict[str, ScenarioResult] = {}
    for directory in sorted(output_dir.iterdir()):
        match = _RESULT_DIR.match(directory.name)
        checks_file = directory / "checks.json"
        if not match or not checks_file.exists():
            continue
        checks: list[dict[str, Any]] = json.loads(checks_file.read_text())
        if any(check.get("status") == "FAILURE" for check in checks):
            status = FAIL
        elif not checks:
            status = SKIPPED
        else:
            status = PASS
        found[match["name"]] = ScenarioResult(match["name"], status, checks)
    ordered: dict[str, ScenarioResult] = {}
    for name in order:
        ordered[name] = found.pop(name, None) or ScenarioResult(
            name, ERROR, [{"id": name, "status": "FAILURE", "errorMessage": "the CLI wrote no result"}]
        )
    ordered.update(found)
    return ordered


def run_suite(
    url: str,
    suite: str,
    *,
    scenarios: Sequence[str] | None = None,
    timeout: float = 300.0,
    output_dir: Path | None = None,
) -> SuiteRun:
    """Run ``suite`` (a key of SUITES) against ``url``; all its scenarios or only ``scenarios``."""
    spec = SUITES[suite]
    if not spec.binary.exists():
        raise ToolsMissing(f"{spec.binary} is missing: run {INSTALLER.relative_to(ROOT)}")
    env = node_env()
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        out = output_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="conformance-")))
        commands = (
            [[str(spec.binary), "server", "--url", url, *spec.args, "-o", str(out)]]
            if not scenarios
            else [
                [str(spec.binary), "server", "--url", url, "--scenario", name, *spec.spec, "-o", str(out)]
                for name in scenarios
            ]
        )
        outputs, exit_code = [], 0
        for command in commands:
            process = subprocess.run(
                command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
            )
            outputs.append(process.stdout + process.stderr)
            exit_code = max(exit_code, process.returncode)
        output = "\n".join(outputs)
        order = list(scenarios) if scenarios else _RUNNING.findall(output)
        results = parse_results(out, order)
    return SuiteRun(suite, url, results, exit_code, time.monotonic() - started, output)


# ---- what to run against ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process serving port {port} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextlib.contextmanager
def fixture_http(log_path: Path | None = None) -> Iterator[str]:
    """The fixture server on streamable HTTP; yields its URL."""
    port = free_port()
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(log_path.open("wb")) if log_path else subprocess.DEVNULL
        process = subprocess.Popen(
            [sys.executable, str(FIXTURE), "--http", str(port)], cwd=ROOT, stdout=log, stderr=log
        )
        try:
            wait_for_port(port, process)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            stop(process)


def gateway_settings(upstream_url: str | None = None) -> dict[str, Any]:
    """Auth off (the conformance CLI sends no credentials; loopback only) and the fixture as
    ``conf``: over stdio, or at ``upstream_url`` over streamable HTTP."""
    server: dict[str, Any] = (
        {"url": upstream_url} if upstream_url else {"command": "python", "args": [str(FIXTURE)]}
    )
    return {
        "auth": {"enabled": False},
        "logging": {"level": "info"},
        "servers": {"conf": {**server, "prefix": "", "start": "eager"}},
    }


@contextlib.contextmanager
def gateway(tmp: Path, upstream_url: str | None = None) -> Iterator[Any]:
    """The real gateway (tests/support.py) in front of the fixture, over stdio or at
    ``upstream_url``; yields RunningGateway."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support import running_gateway

    with running_gateway(tmp, gateway_settings(upstream_url)) as running:
        yield running


# ---- comparing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """A scenario (check None) or one check that passes directly but not through the gateway."""

    suite: str
    scenario: str
    check: str | None
    gateway: str  # what the gateway got: the failure messages, or the check's status and message

    def key(self) -> tuple[str, str] | tuple[str, str, str]:
        return (self.suite, self.scenario) if self.check is None else (self.suite, self.scenario, self.check)


def compare(direct: SuiteRun, through: SuiteRun) -> list[Gap]:
    """What is worse through the gateway than direct.

    A scenario that passes directly and fails through the gateway is one gap (check None). In a
    scenario that passes both ways, each check that succeeds directly but not through the gateway,
    and each warning or failure the gateway adds, is a gap of its own.
    """
    gaps: list[Gap] = []
    for name, result in direct.scenarios.items():
        other = through.scenarios.get(name)
        if result.status != PASS:
            continue
        if other is None or other.status != PASS:
            detail = "; ".join(other.failures) if other else "not run"
            gaps.append(Gap(direct.suite, name, None, detail))
            continue
        worse = (result.ids("SUCCESS") - other.ids("SUCCESS")) | (
            other.ids("WARNING") - result.ids("WARNING") - result.ids("SUCCESS")
        )
        for check_id in sorted(worse):
            check = next((c for c in other.checks if c.get("id") == check_id), {})
            detail = f"{check.get('status', 'absent')}: {check.get('errorMessage') or ''}".strip(": ")
            gaps.append(Gap(direct.suite, name, check_id, detail))
    return gaps


# ---- CLI ----------------------------------------------------------------------------------------


def table(columns: dict[str, SuiteRun]) -> str:
    names: list[str] = []
    for run in columns.values():
        names += [name for name in run.scenarios if name not in names]
    width = max(len(name) for name in names) + 2
    header = "scenario".ljust(width) + "".join(label.ljust(32) for label in columns)
    lines = [header, "-" * len(header)]
    for name in names:
        cells = [
            (run.scenarios[name].summary() if name in run.scenarios else "-").ljust(32)
            for run in columns.values()
        ]
        lines.append(name.ljust(width) + "".join(cells))
    totals = [
        (", ".join(f"{n} {s}" for s, n in run.counts().items() if n) + f" in {run.seconds:.1f}s").ljust(32)
        for run in columns.values()
    ]
    lines.append("total".ljust(width) + "".join(totals))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the MCP conformance server scenarios.")
    parser.add_argument("--url", help="test this URL (otherwise --target decides)")
    parser.add_argument(
        "--target",
        choices=["direct", "gateway", "both"],
        default="both",
        help="direct: the fixture over HTTP; gateway: the gateway with the fixture over stdio",
    )
    parser.add_argument("--suite", choices=[*SUITES, "all"], default="all")
    parser.add_argument("--scenario", action="append", help="only this scenario (repeatable)")
    parser.add_argument("--json", type=Path, help="write machine-readable results here")
    parser.add_argument("--install", action="store_true", help="run the Node tools installer first")
    args = parser.parse_args(argv)

    if args.install:
        done = install_tools(quiet=False)
        if done.returncode:
            return done.returncode
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    runs: dict[str, dict[str, SuiteRun]] = {suite: {} for suite in suites}

    def run_all(label: str, url: str) -> None:
        for suite in suites:
            print(f"== {suite} against {label} ({url})", file=sys.stderr, flush=True)
            runs[suite][label] = run_suite(url, suite, scenarios=args.scenario)

    with tempfile.TemporaryDirectory(prefix="conformance-run-") as tmp:
        if args.url:
            run_all("url", args.url)
        else:
            if args.target in ("direct", "both"):
                with fixture_http(Path(tmp) / "fixture.log") as url:
                    run_all("direct", url)
            if args.target in ("gateway", "both"):
                with gateway(Path(tmp)) as running:
                    run_all("gateway /servers/conf/mcp", running.server_url("conf"))
                    run_all("gateway /mcp", running.url)
                    gateway_log = running.log()
                problems = [
                    line for line in gateway_log.splitlines() if " ERROR " in line or "Traceback" in line
                ]
                if problems:
                    print("gateway log errors:\n  " + "\n  ".join(problems[:20]), file=sys.stderr)

    report: dict[str, Any] = {"suites": {}, "gaps": []}
    for suite, columns in runs.items():
        print(f"\n# conformance {suite} ({' '.join(SUITES[suite].args)})\n{table(columns)}")
        report["suites"][suite] = {label: run.to_json() for label, run in columns.items()}
        direct = columns.get("direct")
        for label, run in columns.items():
            if direct is None or run is direct:
                continue
            for gap in compare(direct, run):
                where = gap.scenario + (f" / {gap.check}" if gap.check else "")
                print(f"  gateway gap [{label}] {where}: {gap.gateway}")
                report["gaps"].append({"endpoint": label, **asdict(gap)})
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    failed = any(
        run.counts()[FAIL] or run.counts()[ERROR] for columns in runs.values() for run in columns.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
