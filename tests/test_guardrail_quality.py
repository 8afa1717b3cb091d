"""The guardrails' quality through a running gateway with its default preset, on the development
half of the labelled corpus (``python -m bench.guardrail_quality`` prints the whole table): every
category, scored by its own guardrail, reaches F1 >= 0.95 with a false-positive rate <= 3 %."""

from __future__ import annotations

from bench.guardrail_quality import DEV_CORPUS, report, run


def test_every_category_reaches_its_target_through_the_gateway() -> None:
    tallies = run(DEV_CORPUS, preset=None)
    table = report(tallies)
    assert {name.split(" ")[0] for name in tallies} == {
        "args/argument",
        "injection/result",
        "pii/argument",
        "pii/result",
        "poisoning/definition",
        "secrets/argument",
        "secrets/result",
    }
    for name, tally in tallies.items():
        if "(any" in name:
            continue
        scores = tally.scores()
        assert scores["f1"] >= 0.95 and scores["fpr"] <= 0.03, f"{name}\n{table}"
