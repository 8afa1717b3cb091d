"""Run the MCP conformance suite's server scenarios and report per-scenario results.

Needs the Node tools from ``tests/tools/install-node-tools.sh`` (Node 22 and both conformance
versions under ``.tools/``). Two suites are known:

- ``0.1.16``: ``conformance server --url URL --suite all`` (32 scenarios);
- ``0.2.0-alpha.12``: ``conformance server --url URL --suite all --spec-version 2025-11-25``
  (33 scenarios: its active suite of 31 plus the pending ``json-schema-2020-12`` and
  ``server-sse-polling``). The alpha also validates every message on the wire against the
  2025-11-25 JSON schema (check ``wire-schema-valid``).

And one of the 2026-07-28 revision (MODERN_SUITES), stateless (per-request ``_meta``, no
``initialize``), MRTR, ``subscriptions/listen``, SEP-2243 headers:

- ``0.2.0-alpha.12/2026-07-28``: ``conformance server --url URL --requirements 2026-07-28``
  (50 scenarios: the 37 the revision requires, plus 13 it runs without scoring them: the tasks
  extension (10) and three pending ones, ``json-schema-2020-12``, ``http-header-validation`` and
  ``http-custom-header-server-validation``). One scenario alone runs with ``--scenario NAME
  --spec-version 2026-07-28``. The CLI lists what it did not score after ``Not scored for``.

The CLI writes one ``checks.json`` per scenario (``-o DIR``: ``DIR/server-<scenario>-<time>/``);
each check is SUCCESS, FAILURE, WARNING, INFO or SKIPPED, and a scenario passes when none of its
checks failed. Its exit code is 1 when any scenario failed.

Usage::

    python tests/conformance/run.py --url http://127.0.0.1:3001/mcp --suite 0.1.16
    python tests/conformance/run.py                       # direct and through the gateway, both suites
    python tests/conformance/run.py --target gateway --json results.json

``--target direct`` runs the fixture server over streamable HTTP; ``--target gateway`` runs the
gateway (auth off, loopback) with the fixture as stdio upstream ``conf`` (prefix emptied) and
tests both ``/servers/conf/mcp`` and ``/mcp``. For the 2026-07-28 suite the gateway runs four
times (UPSTREAMS_2026): in front of the fixture (it serves both eras) over stdio and over HTTP,
and in front of the fixture with ``--legacy-only`` (initialize only, as a pre-2026 server) over
stdio and over HTTP, where the gateway has to translate (its upstream ``era`` set to "auto", ERA_2026,
so its probe has to find the fixture modern and fall back to ``initialize`` for the legacy one).
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
    requirements: str | None = None  # a spec revision's requirement set (replaces select and spec)

    @property
    def args(self) -> tuple[str, ...]:
        """The arguments of a run of the whole suite."""
        if self.requirements:
            return ("--requirements", self.requirements)
        return (*self.select, *self.spec)

    @property
    def scenario_args(self) -> tuple[str, ...]:
        """The arguments that go with ``--scenario NAME`` (--requirements cannot)."""
        if self.requirements:
            return ("--spec-version", self.requirements)
        return self.spec

    @property
    def binary(self) -> Path:
        return TOOLS / f"conformance-{self.version}" / "node_modules" / ".bin" / "conformance"


SUITES: dict[str, Suite] = {
    "0.1.16": Suite("0.1.16", ("--suite", "all")),
    "0.2.0-alpha.12": Suite("0.2.0-alpha.12", ("--suite", "all"), ("--spec-version", "2025-11-25")),
}

# The 2026-07-28 revision (stateless): run against other targets than SUITES (see UPSTREAMS_2026).
MODERN_SUITES: dict[str, Suite] = {
    "0.2.0-alpha.12/2026-07-28": Suite("0.2.0-alpha.12", (), requirements="2026-07-28"),
}
ALL_SUITES: dict[str, Suite] = {**SUITES, **MODERN_SUITES}

# Why a requirement set runs a scenario without scoring it (the CLI's words). An ``extension``
# is optional for every implementation; ``pending`` ones the reference fixture cannot pass yet.
EXTENSION, PENDING = "extension", "pending"

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
    not_scored: dict[str, str] = field(default_factory=dict)  # scenario -> why (EXTENSION, PENDING)

    def counts(self) -> dict[str, int]:
        counts = {PASS: 0, FAIL: 0, SKIPPED: 0, ERROR: 0}
        for result in self.scenarios.values():
            counts[result.status] += 1
        return counts

    def passed(self) -> set[str]:
        return {name for name, result in self.scenarios.items() if result.status == PASS}

    def counted(self) -> list[str]:
        """The scenarios that count: all but the extensions a requirement set runs unscored."""
        return [name for name in self.scenarios if self.not_scored.get(name) != EXTENSION]

    def count(self) -> tuple[int, int]:
        """(passed, total) over the scenarios that count."""
        counted = self.counted()
        return sum(1 for name in counted if self.scenarios[name].status == PASS), len(counted)

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "url": self.url,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 2),
            "counts": self.counts(),
            "count": "{} of {}".format(*self.count()),
            "not_scored": self.not_scored,
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
# Under "Not scored for 2026-07-28: ...": "  ✗ tasks-lifecycle (extension)".
_NOT_SCORED = re.compile(r"^\s+[✓✗]\s+(?P<name>\S+)\s+\((?P<reason>[a-z-]+)\)$", re.MULTILINE)


def parse_not_scored(output: str) -> dict[str, str]:
    """Which scenarios the CLI ran without scoring them, and why (its summary after the totals)."""
    _, marker, rest = output.partition("Not scored for ")
    return {m["name"]: m["reason"] for m in _NOT_SCORED.finditer(rest)} if marker else {}


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
        ordered[name] = (
            found.pop(name)
            if name in found
            else ScenarioResult(
                name, ERROR, [{"id": name, "status": "FAILURE", "errorMessage": "the CLI wrote no result"}]
            )
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
    """Run ``suite`` (a key of ALL_SUITES) against ``url``; all its scenarios or only ``scenarios``.

    A CLI still running after ``timeout`` seconds is killed: the scenarios it finished count, the
    others are errors.
    """
    spec = ALL_SUITES[suite]
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
                [
                    str(spec.binary),
                    "server",
                    "--url",
                    url,
                    "--scenario",
                    name,
                    *spec.scenario_args,
                    "-o",
                    str(out),
                ]
                for name in scenarios
            ]
        )
        outputs, exit_code = [], 0
        for command in commands:
            try:
                process = subprocess.run(
                    command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
                )
            except subprocess.TimeoutExpired as expired:
                outputs.append(_text(expired.stdout) + _text(expired.stderr))
                outputs.append(f"conformance CLI killed after {timeout:.0f} s: {' '.join(command)}")
                exit_code = max(exit_code, 124)
                continue
            outputs.append(process.stdout + process.stderr)
            exit_code = max(exit_code, process.returncode)
        output = "\n".join(outputs)
        order = list(scenarios) if scenarios else _RUNNING.findall(output)
        results = parse_results(out, order)
    return SuiteRun(
        suite, url, results, exit_code, time.monotonic() - started, output, parse_not_scored(output)
    )


def _text(data: str | bytes | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data or ""


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
def fixture_http(log_path: Path | None = None, *, legacy_only: bool = False) -> Iterator[str]:
    """The fixture server on streamable HTTP (``legacy_only``: handshake era only); yields its URL."""
    port = free_port()
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(log_path.open("wb")) if log_path else subprocess.DEVNULL
        process = subprocess.Popen(
            [sys.executable, str(FIXTURE), "--http", str(port), *(["--legacy-only"] if legacy_only else [])],
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        try:
            wait_for_port(port, process)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            stop(process)


def gateway_settings(
    upstream_url: str | None = None,
    *,
    legacy_only: bool = False,
    era: str | None = None,
    plugins: Path | None = None,
) -> dict[str, Any]:
    """Auth off (the conformance CLI sends no credentials; loopback only) and the fixture as
    ``conf``: over stdio (``legacy_only``: with ``--legacy-only``), or at ``upstream_url`` over
    streamable HTTP; with the upstream setting ``era`` when given (else its default)."""
    args = [str(FIXTURE), *(["--legacy-only"] if legacy_only else [])]
    server: dict[str, Any] = {"url": upstream_url} if upstream_url else {"command": "python", "args": args}
    if era is not None:
        server["era"] = era
    settings: dict[str, Any] = {
        "auth": {"enabled": False},
        "logging": {"level": "info"},
        "servers": {"conf": {**server, "prefix": "", "start": "eager"}},
    }
    if plugins is not None:
        settings["plugins"] = {"config": str(plugins)}
    return settings


@contextlib.contextmanager
def gateway(
    tmp: Path,
    upstream_url: str | None = None,
    *,
    legacy_only: bool = False,
    era: str | None = None,
    plugins: Path | None = None,
) -> Iterator[Any]:
    """The real gateway (tests/support.py) in front of the fixture, over stdio or at
    ``upstream_url``; yields RunningGateway."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support import running_gateway

    settings = gateway_settings(upstream_url, legacy_only=legacy_only, era=era, plugins=plugins)
    with running_gateway(tmp, settings) as running:
        yield running


# The upstream era setting of the 2026-07-28 runs: the gateway probes with server/discover and
# must find the fixture modern, and fall back to initialize for the --legacy-only fixture.
ERA_2026 = "auto"

# How the gateway reaches its upstream in the 2026-07-28 runs: (label, over HTTP, legacy only).
# "stdio" and "http" are the fixture itself (both eras); "legacy-*" the fixture with --legacy-only.
UPSTREAMS_2026: tuple[tuple[str, bool, bool], ...] = (
    ("stdio", False, False),
    ("http", True, False),
    ("legacy-stdio", False, True),
    ("legacy-http", True, True),
)


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
    widths = [max(32, len(label) + 2) for label in columns]
    header = "scenario".ljust(width) + "".join(
        label.ljust(w) for label, w in zip(columns, widths, strict=True)
    )
    lines = [header, "-" * len(header)]
    for name in names:
        cells = [
            (run.scenarios[name].summary() if name in run.scenarios else "-").ljust(w)
            for run, w in zip(columns.values(), widths, strict=True)
        ]
        lines.append(name.ljust(width) + "".join(cells))
    totals = [
        (", ".join(f"{n} {s}" for s, n in run.counts().items() if n) + f" in {run.seconds:.1f}s").ljust(w)
        for run, w in zip(columns.values(), widths, strict=True)
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
        help="direct: the fixture over HTTP; gateway: the gateway with the fixture over stdio "
        "(2026-07-28: and over HTTP, and the legacy-only fixture over both)",
    )
    parser.add_argument("--suite", choices=[*ALL_SUITES, "all"], default="all")
    parser.add_argument(
        "--upstream",
        action="append",
        choices=[label for label, _, _ in UPSTREAMS_2026],
        help="2026-07-28 gateway runs: only with this upstream (repeatable)",
    )
    parser.add_argument("--scenario", action="append", help="only this scenario (repeatable)")
    parser.add_argument("--json", type=Path, help="write machine-readable results here")
    parser.add_argument("--install", action="store_true", help="run the Node tools installer first")
    args = parser.parse_args(argv)

    if args.install:
        done = install_tools(quiet=False)
        if done.returncode:
            return done.returncode
    suites = list(ALL_SUITES) if args.suite == "all" else [args.suite]
    legacy_suites = [suite for suite in suites if suite in SUITES]
    modern_suites = [suite for suite in suites if suite in MODERN_SUITES]
    runs: dict[str, dict[str, SuiteRun]] = {suite: {} for suite in suites}
    gateway_logs: list[str] = []

    def run_all(label: str, url: str, which: Sequence[str]) -> None:
        for suite in which:
            print(f"== {suite} against {label} ({url})", file=sys.stderr, flush=True)
            runs[suite][label] = run_suite(url, suite, scenarios=args.scenario)

    def through_gateway(running: Any, which: Sequence[str], upstream: str = "") -> None:
        tag = f"[{upstream}]" if upstream else ""
        run_all(f"gateway{tag} /servers/conf/mcp", running.server_url("conf"), which)
        run_all(f"gateway{tag} /mcp", running.url, which)
        gateway_logs.append(running.log())

    with tempfile.TemporaryDirectory(prefix="conformance-run-") as tmp:
        if args.url:
            run_all("url", args.url, suites)
        else:
            if args.target in ("direct", "both"):
                with fixture_http(Path(tmp) / "fixture.log") as url:
                    run_all("direct", url, suites)
            if args.target in ("gateway", "both") and legacy_suites:
                with gateway(Path(tmp)) as running:
                    through_gateway(running, legacy_suites)
            if args.target in ("gateway", "both") and modern_suites:
                with (
                    fixture_http(Path(tmp) / "fixture-upstream.log") as url,
                    fixture_http(Path(tmp) / "fixture-legacy.log", legacy_only=True) as legacy_url,
                ):
                    for label, over_http, legacy in UPSTREAMS_2026:
                        if args.upstream and label not in args.upstream:
                            continue
                        upstream_url = (legacy_url if legacy else url) if over_http else None
                        with gateway(Path(tmp), upstream_url, legacy_only=legacy, era=ERA_2026) as running:
                            through_gateway(running, modern_suites, label)
        problems = [
            line
            for log in gateway_logs
            for line in log.splitlines()
            if " ERROR " in line or "Traceback" in line
        ]
        if problems:
            print("gateway log errors:\n  " + "\n  ".join(problems[:20]), file=sys.stderr)

    report: dict[str, Any] = {"suites": {}, "gaps": []}
    for suite, columns in runs.items():
        print(f"\n# conformance {suite} ({' '.join(ALL_SUITES[suite].args)})\n{table(columns)}")
        for label, run in columns.items():
            passed, total = run.count()
            print(f"  count [{label}]: {passed} of {total}")
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
        run.scenarios[name].status in (FAIL, ERROR)
        for columns in runs.values()
        for run in columns.values()
        for name in run.counted()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
