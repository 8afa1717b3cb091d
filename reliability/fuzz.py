"""Part (a): front-door fuzzing. Inputs from :mod:`reliability.fuzz_cases`, sent on fresh
connections by concurrent workers; every answer is checked, a canary session of each era
calls a tool every ``canary_every`` inputs, and the gateway must stay alive throughout.

Checks on every answer: no 5xx except by design (:data:`BY_DESIGN`); every error body
well-formed (a JSON-RPC error with ``code``, ``message`` and ``data.fault``, or JSON for a
non-RPC HTTP error); a well-framed request gets an answer. Broken framing that uvicorn's HTTP
parser rejects before the gateway sees it is counted apart (uvicorn answers it in plain text).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.harness import API_KEY, Era
from reliability.fuzz_cases import Case, Cases
from reliability.lab import FAULTS, Exchange, Lab, auth_header, clients, exchange, messages, ok
from reliability.report import Part

BY_DESIGN = {
    502: "upstream failed or unreachable (data.fault = upstream)",
    503: "session limit reached, or the requestState ledger unreachable (data.fault = gateway)",
    504: "upstream timed out (data.fault = upstream)",
}
"""The 5xx answers the gateway gives on purpose; anything else in 5xx is a finding."""
UVICORN_REJECT = b"Invalid HTTP request received."
EXAMPLES = 3


@dataclass
class FuzzReport:
    inputs: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    canary_calls: int = 0
    canary_failures: int = 0
    gateway_alive: bool = True
    tracebacks_in_log: int = 0
    rss_mb: tuple[float, float] = (0.0, 0.0)

    def problem(self, kind: str, case: Case, answer: Exchange) -> None:
        self.problems[kind] += 1
        shown = self.examples.setdefault(kind, [])
        if len(shown) < EXAMPLES:
            response = f"{answer.status} {answer.headers.get(b'content-type', b'')!r} {answer.body[:300]!r}"
            sent = case.raw[:600].replace(API_KEY.encode(), b"pcs_bench_<key>")
            shown.append({"era": case.era, "input": repr(sent), "response": response})

    def as_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "seconds": round(self.seconds, 1),
            "inputs_per_second": round(self.inputs / self.seconds) if self.seconds else 0,
            "outcomes": dict(self.outcomes),
            "statuses": dict(sorted(self.statuses.items())),
            "problems": dict(self.problems),
            "examples": self.examples,
            "canary_calls": self.canary_calls,
            "canary_failures": self.canary_failures,
            "gateway_alive": self.gateway_alive,
            "tracebacks_in_log": self.tracebacks_in_log,
            "rss_mb_first_last": list(self.rss_mb),
            "by_design_5xx": {str(k): v for k, v in BY_DESIGN.items()},
        }


def rpc_error_problem(message: Any) -> str | None:
    """What is wrong with a JSON-RPC error message, if anything."""
    error = message.get("error")
    if not isinstance(error, dict):
        return "error is not an object"
    if not isinstance(error.get("code"), int) or not isinstance(error.get("message"), str):
        return "error without an integer code and a message"
    data = error.get("data")
    if not isinstance(data, dict) or data.get("fault") not in FAULTS:
        return "error without data.fault"
    return None


def check(case: Case, answer: Exchange, report: FuzzReport) -> None:
    status = answer.status
    report.statuses[str(status)] += 1
    if status is None:
        if case.framing:
            report.outcomes["framing: closed without an answer"] += 1
        elif answer.timed_out and case.stream():
            report.outcomes["stream held open (GET or listen)"] += 1
        else:
            report.problem("well-framed request without an answer", case, answer)
        return
    if status == -1:
        report.problem("unparsable HTTP answer", case, answer)
        return
    if status == 400 and UVICORN_REJECT in answer.body:
        report.outcomes["rejected by uvicorn's HTTP parser (plain text)"] += 1
        return
    if case.verb == "HEAD":
        report.outcomes["HEAD answered without a body"] += 1
        return
    if status == 404 and answer.body.startswith(b"Not Found") and not _api_path(case.raw):
        report.outcomes["404 in plain text outside the API paths (by design)"] += 1
        return
    try:
        found = messages(answer.headers, answer.body)
    except (ValueError, orjson.JSONDecodeError):
        if status >= 400:
            report.problem(f"{status} with a non-JSON body", case, answer)
        elif not (answer.timed_out and case.stream()):
            report.problem(f"{status} with an unparsable body", case, answer)
        return
    if status >= 400 and _plain_json_error(found):
        report.outcomes[f"{status} as a plain JSON error (non-MCP path)"] += 1
        return
    errors = [m for m in found if isinstance(m, dict) and "error" in m]
    for message in errors:
        wrong = rpc_error_problem(message)
        if wrong is not None:
            report.problem(f"malformed JSON-RPC error: {wrong}", case, answer)
    if status >= 500:
        faults = {m["error"].get("data", {}).get("fault") for m in errors if isinstance(m["error"], dict)}
        expected = {502: "upstream", 504: "upstream", 503: "gateway"}.get(status)
        if expected is None or faults != {expected}:
            report.problem(f"{status} not by design", case, answer)
            return
        report.outcomes[f"{status} by design"] += 1
        return
    if status >= 400 and not found:
        report.problem(f"{status} with an empty body", case, answer)
        return
    report.outcomes["rpc error" if errors else f"answered {status // 100}xx"] += 1


def _plain_json_error(found: list[Any]) -> bool:
    """``{"error": "what is wrong"}``: the documented answer of a path that is not MCP."""
    return bool(found) and all(
        isinstance(m, dict) and list(m) == ["error"] and isinstance(m["error"], str) and m["error"]
        for m in found
    )


def _api_path(raw: bytes) -> bool:
    """Is the request line's path one whose errors must be JSON (MCP and API paths)?"""
    parts = raw.split(b" ", 2)
    path = parts[1] if len(parts) > 1 else b""
    return path.startswith((b"/mcp", b"/servers/", b"/api", b"/healthz"))


async def canary(report: FuzzReport, pair: Any) -> None:
    """Other sessions are unaffected: each era's canary calls a tool and must succeed."""
    for client in pair:
        report.canary_calls += 1
        try:
            answer = await client.call("up__echo", {"text": "canary"})
        except (ConnectionError, RuntimeError) as exc:
            answer = {"exception": repr(exc)}
        if not ok(answer):
            report.canary_failures += 1
            report.examples.setdefault("canary failure", []).append({"response": repr(answer)[:300]})


async def worker(lab: Lab, queue: asyncio.Queue[Case | None], report: FuzzReport) -> None:
    while (case := await queue.get()) is not None:
        timeout = 1.0 if case.stream() or case.framing else 5.0
        try:
            answer = await exchange(lab.port, case.raw, timeout)
        except OSError as exc:
            answer = Exchange(None, {}, repr(exc).encode())
        check(case, answer, report)
        report.inputs += 1


async def fresh_sessions(lab: Lab, count: int) -> list[str]:
    eras: list[Era] = ["legacy"] * count
    async with clients(lab.port, *eras) as made:
        for client in made:
            await client.request("ping", {})
        return [client.session_id for client in made]


async def run(lab: Lab, inputs: int, *, seed: int = 1, pool: int = 3000, concurrency: int = 32) -> FuzzReport:
    report = FuzzReport()
    cases = Cases(pool, seed, auth_header())
    canary_every = max(50, inputs // 200)
    report.rss_mb = (lab.rss_mb(), 0.0)
    started = time.monotonic()
    queue: asyncio.Queue[Case | None] = asyncio.Queue(maxsize=concurrency * 4)
    workers = [asyncio.create_task(worker(lab, queue, report)) for _ in range(concurrency)]
    async with clients(lab.port, "legacy", "modern") as pair:
        for index in range(inputs):
            if index % 2000 == 0:
                cases.sessions = await fresh_sessions(lab, 4)
            if index % canary_every == 0:
                await canary(report, pair)
                if not lab.alive():
                    break
            await queue.put(cases.next())
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
        await canary(report, pair)
    report.seconds = time.monotonic() - started
    report.gateway_alive = lab.alive()
    report.tracebacks_in_log = lab.tracebacks()
    report.rss_mb = (report.rss_mb[0], lab.rss_mb() if lab.alive() else 0.0)
    return report


async def part(lab: Lab, inputs: int, seed: int, pool: int) -> Part:
    """Run the fuzzing as one part of the suite."""
    report = await run(lab, inputs, seed=seed, pool=pool)
    found = dict(report.problems)
    not_by_design = {k: v for k, v in found.items() if "not by design" in k}
    malformed = {k: v for k, v in found.items() if k not in not_by_design}
    return Part(
        "(a) front-door fuzzing",
        report.as_dict(),
        {
            "gateway alive (no crash)": report.gateway_alive,
            "no 5xx except by design": not not_by_design,
            "every answer well-formed (JSON-RPC error or JSON)": not malformed,
            "canary sessions unaffected": report.canary_failures == 0,
            "no traceback in the gateway log": report.tracebacks_in_log == 0,
        },
    )
