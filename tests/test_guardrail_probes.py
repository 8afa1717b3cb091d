"""The detectors on labelled data: the development corpus (``bench/guardrail_corpus/``) and the
probes written apart from it against over-fitting (``tests/guardrail_probes/``).

Every ``<category>.jsonl`` (``<category>_dev.jsonl`` in the corpus) is scored by its category's
detectors (positive = at least one finding): F1 >= 0.95 and false-positive rate <= 0.03, naming
the failing ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.guardrail_quality import DEV_CORPUS
from middleware.guardrails.detectors.arguments import find_command_injection, find_path_traversal, find_ssrf
from middleware.guardrails.detectors.injection import find_injection
from middleware.guardrails.detectors.pii import find_pii
from middleware.guardrails.detectors.poisoning import find_poisoning
from middleware.guardrails.detectors.secrets import find_secrets

PROBES = Path(__file__).resolve().parent / "guardrail_probes"
LABELLED = [*sorted(DEV_CORPUS.glob("*_dev.jsonl")), *sorted(PROBES.glob("*.jsonl"))]
Item = dict[str, Any]


def _load(path: Path) -> list[Item]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _poisoning_judge(items: list[Item]) -> Callable[[Item], bool]:
    """Each definition is judged against the names of all the other probe definitions."""
    definitions = {item["id"]: json.loads(item["text"]) for item in items}
    names = {key: str(definition.get("name", "")) for key, definition in definitions.items()}

    def judge(item: Item) -> bool:
        others = [name for key, name in names.items() if key != item["id"]]
        return bool(find_poisoning(definitions[item["id"]], others))

    return judge


def _judge(category: str, items: list[Item]) -> Callable[[Item], bool]:
    if category == "poisoning":
        return _poisoning_judge(items)
    simple: dict[str, Callable[[str], bool]] = {
        "injection": lambda text: bool(find_injection(text)),
        "args": lambda text: bool(
            find_ssrf(text) or find_path_traversal(text) or find_command_injection(text)
        ),
        "pii": lambda text: bool(find_pii(text)),
        "secrets": lambda text: bool(find_secrets(text)),
    }
    return lambda item: simple[category](item["text"])


@pytest.mark.parametrize("path", LABELLED, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_labelled_set_meets_the_targets(path: Path) -> None:
    items = _load(path)
    judge = _judge(path.stem.removesuffix("_dev"), items)
    misses, false_alarms, true_pos, negatives = [], [], 0, 0
    for item in items:
        flagged = judge(item)
        if item["label"] == "positive":
            true_pos += flagged
            if not flagged:
                misses.append(item["id"])
        else:
            negatives += 1
            if flagged:
                false_alarms.append(item["id"])
    precision = true_pos / (true_pos + len(false_alarms)) if true_pos + len(false_alarms) else 1.0
    recall = true_pos / (true_pos + len(misses)) if true_pos + len(misses) else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr = len(false_alarms) / negatives if negatives else 0.0
    message = f"{path.stem}: F1 {f1:.3f}, FPR {fpr:.3f}; missed {misses}; false positives {false_alarms}"
    assert f1 >= 0.95 and fpr <= 0.03, message
