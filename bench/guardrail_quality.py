"""How good the built-in guardrails are, measured through a running gateway on a labelled corpus.

Starts a gateway (its default preset unless ``--preset``) in front of ``bench/corpus_server.py``
and sends every corpus item where it belongs, then counts what the gateway did:

- ``pii`` and ``secrets``: as an argument (``sink(value)``: detected when the call is blocked or
  its answer carries the guardrails' mark) and as a result (``emit(id)``: detected when the
  answer is blocked, changed or marked);
- ``injection``: as a result;
- ``args``: as an argument;
- ``poisoning``: as a tool definition served by an upstream (detected when the gateway's
  ``tools/list`` leaves it out or marks it).

Each category is scored twice: by its own guardrail (the PII guardrail on PII items...), which is
what the category measures, and by any guardrail at all (a benign web page that carries an
author's e-mail is left alone by the injection guardrail but redacted by the PII one: right for
the product, a false positive for "untouched"). Prints precision, recall, F1 and false-positive
rate per category and channel both ways, recall (positive subtypes) or false-positive rate
(negative ones) per subtype, and every wrong verdict with what the gateway did.

Run: ``.venv/bin/python -m bench.guardrail_quality [--corpus DIR] [--preset NAME] [--json FILE]``.
The corpus defaults to the development half kept in ``bench/guardrail_corpus/``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.harness import (
    BENCH,
    PYTHON,
    GatewayConfig,
    HttpConnection,
    Processes,
    mcp_headers,
    open_session,
    start_gateway,
)

DEV_CORPUS = BENCH / "guardrail_corpus"
"""The development half of the labelled corpus (its README says what the labels mean)."""
MARK = "io.portcullis/guardrails"
CHANNELS = {"pii": ("argument", "result"), "secrets": ("argument", "result"), "injection": ("result",)}
CHANNELS |= {"args": ("argument",), "poisoning": ("definition",)}


@dataclass
class Item:
    id: str
    category: str
    subtype: str
    positive: bool
    text: str


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    by_subtype: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    wrong: list[str] = field(default_factory=list)
    """Each false positive and false negative: the item's id and what the gateway did."""

    def add(self, item: Item, verdict: str | None) -> None:
        detected = verdict is not None
        if detected != item.positive:
            self.wrong.append(f"{item.id}: {verdict or 'passed untouched'}")
        if item.positive:
            self.tp, self.fn = self.tp + detected, self.fn + (not detected)
        else:
            self.fp, self.tn = self.fp + detected, self.tn + (not detected)
        counts = self.by_subtype[item.subtype]
        counts[0] += detected
        counts[1] += 1

    def scores(self) -> dict[str, float]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        fpr = self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "fpr": fpr}


def load(corpus: Path) -> list[Item]:
    items = []
    for path in sorted(corpus.glob("*_dev.jsonl")) or sorted(corpus.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            raw = orjson.loads(line)
            category, subtype = raw["id"].split("-")[0], raw["id"].rsplit("-", 1)[0].split("-", 1)[1]
            items.append(Item(raw["id"], category, subtype, raw["label"] == "positive", raw["text"]))
    return items


def definition_groups(items: list[Item]) -> list[list[tuple[Item, dict[str, Any]]]]:
    """Definitions split so that no server lists two tools of the same name."""
    groups: list[list[tuple[Item, dict[str, Any]]]] = []
    for item in items:
        definition = orjson.loads(item.text)
        for group in groups:
            if all(other["name"] != definition["name"] for _, other in group):
                group.append((item, definition))
                break
        else:
            groups.append([(item, definition)])
    return groups


class Client:
    """One MCP session on the gateway's aggregate endpoint."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.next_id = 1

    async def open(self) -> None:
        self.connection = await HttpConnection.open(self.port, "/mcp", mcp_headers(True))
        self.extra = await open_session(self.connection)

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        body = orjson.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        status, _, answer = await self.connection.post(body, self.extra)
        if answer.startswith((b"event:", b"data:", b"id:", b":")):
            answer = next(line[5:] for line in answer.splitlines() if line.startswith(b"data:"))
        message: dict[str, Any] = orjson.loads(answer)
        if status != 200 or "result" not in message:
            raise RuntimeError(f"{method} answered {status}: {message}")
        result: dict[str, Any] = message["result"]
        return result

    async def tools(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await self.request("tools/list", {"cursor": cursor} if cursor else {})
            found += page["tools"]
            cursor = page.get("nextCursor")
            if not cursor:
                return found


Verdict = tuple[frozenset[str], str]
"""Which detectors acted on an item, and what the gateway did (for the list of wrong verdicts)."""
OWN = {
    "pii": {"pii"},
    "secrets": {"secrets"},
    "injection": {"injection"},
    "args": {"ssrf", "path", "command", "schema", "limits"},
    "poisoning": {"poisoning"},
}
"""The detectors whose verdict a category measures; any other guardrail acting is counted apart."""
_BLOCKED_BY = re.compile(r"(\w+) \((\w+)\)")


def acted_on(result: dict[str, Any], original: str | None) -> Verdict | None:
    """Which detectors blocked, marked or changed this answer, and how; None when none did."""
    content = result.get("content") or [{}]
    if result.get("isError"):
        text = str(content[0].get("text"))
        return frozenset(d for d, _ in _BLOCKED_BY.findall(text)), f"blocked: {text[:160]}"
    findings = ((result.get("_meta") or {}).get(MARK) or {}).get("findings")
    if findings:
        described = ", ".join(sorted({f"{f['detector']}/{f['kind']} {f['action']}" for f in findings}))
        return frozenset(f["detector"] for f in findings), f"marked: {described}"
    if original is not None and content[0].get("text") != original:
        return frozenset({"?"}), "changed"
    return None


def _count(tallies: dict[str, Tally], item: Item, channel: str, verdict: Verdict | None) -> None:
    """Count the item for its category's own detectors, and for any guardrail at all. A positive
    item blocked by another guardrail first (a private key in an argument that also trips the
    argument guardrail) did not get through: it counts as stopped for its category too."""
    stopped = verdict is not None and (
        bool(verdict[0] & OWN[item.category]) or (item.positive and verdict[1].startswith("blocked"))
    )
    own = verdict if stopped else None
    tallies[f"{item.category}/{channel}"].add(item, own[1] if own else None)
    tallies[f"{item.category}/{channel} (any guardrail)"].add(item, verdict[1] if verdict else None)


async def measure(
    client: Client, items: list[Item], groups: list[list[tuple[Item, dict[str, Any]]]]
) -> dict[str, Tally]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    for item in items:
        if item.category == "poisoning":
            continue
        for channel in CHANNELS[item.category]:
            if channel == "argument":
                result = await client.request(
                    "tools/call", {"name": "corpus__sink", "arguments": {"value": item.text}}
                )
                _count(tallies, item, channel, acted_on(result, None))
            else:
                result = await client.request(
                    "tools/call", {"name": "corpus__emit", "arguments": {"id": item.id}}
                )
                _count(tallies, item, channel, acted_on(result, item.text))
    listed = {tool["name"]: tool for tool in await client.tools()}
    for index, group in enumerate(groups):
        for item, definition in group:
            shown = listed.get(f"defs{index}__{definition['name']}")
            acted = shown is None or MARK in (shown.get("_meta") or {})
            verdict = (frozenset({"poisoning"}), "quarantined or marked") if acted else None
            _count(tallies, item, "definition", verdict)
    return tallies


def report(tallies: dict[str, Tally]) -> str:
    lines = ["| category / channel | precision | recall | F1 | FPR | items |", "|---|---|---|---|---|---|"]
    for name, tally in sorted(tallies.items()):
        s = tally.scores()
        total = tally.tp + tally.fp + tally.fn + tally.tn
        figures = " | ".join(f"{s[key]:.3f}" for key in ("precision", "recall", "f1", "fpr"))
        lines.append(f"| {name} | {figures} | {total} |")
    lines += ["", "| category / channel | subtype | detected | of | rate |", "|---|---|---|---|---|"]
    for name, tally in sorted(tallies.items()):
        if "(any" in name:
            continue  # the same items, judged by every guardrail: only the table above
        for subtype, (hit, count) in sorted(tally.by_subtype.items()):
            lines.append(f"| {name} | {subtype} | {hit} | {count} | {hit / count:.2f} |")
    lines += ["", "Wrong verdicts:"]
    lines += [f"- {name} {wrong}" for name, tally in sorted(tallies.items()) for wrong in tally.wrong]
    return "\n".join(lines)


def run(corpus: Path, preset: str | None) -> dict[str, Tally]:
    items = load(corpus)
    groups = definition_groups([item for item in items if item.category == "poisoning"])
    with Processes() as procs:
        servers: dict[str, dict[str, Any]] = {
            "corpus": {"command": PYTHON, "args": [str(BENCH / "corpus_server.py"), "--corpus", str(corpus)]}
        }
        for index, group in enumerate(groups):
            path = procs.dir / f"defs{index}.json"
            path.write_bytes(orjson.dumps([definition for _, definition in group]))
            servers[f"defs{index}"] = {
                "command": PYTHON,
                "args": [
                    str(BENCH / "corpus_server.py"),
                    "--corpus",
                    str(corpus),
                    "--definitions",
                    str(path),
                ],
            }
        config = GatewayConfig("quality", guardrails=preset, log_level="warning")
        gateway = start_gateway(procs, "quality", config, servers)
        assert gateway.port is not None

        async def go() -> dict[str, Tally]:
            client = Client(gateway.port or 0)
            await client.open()
            return await measure(client, items, groups)

        try:
            return asyncio.run(go())
        except Exception:
            print(gateway.log(), file=sys.stderr)  # what the gateway said about it
            raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--corpus", default=str(DEV_CORPUS))
    parser.add_argument("--preset", help="a [guardrails] preset (default: the gateway's default)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    tallies = run(Path(args.corpus), args.preset)
    print(report(tallies))
    if args.json:
        figures = {name: {**t.scores(), "subtypes": dict(t.by_subtype)} for name, t in tallies.items()}
        Path(args.json).write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
