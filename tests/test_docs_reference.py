"""Documents that are checked against the code, so that they cannot rot.

- ``docs/configuration.md`` is generated from the settings models by
  ``gateway.settings.reference``; the committed file must be what the generator gives now.
- ``docs/runbook.md`` has a section for every alert of ``deploy/prometheus/alerts.yml``.
- ``docs/security.md`` cites only tests that exist, and README.md links every page of docs/.
"""

from __future__ import annotations

import re

import yaml

from gateway.settings.model import Settings
from gateway.settings.reference import COMMAND, TARGET, render, type_name
from tests.support import ROOT


def test_the_configuration_reference_is_what_the_settings_models_say() -> None:
    committed = TARGET.read_text() if TARGET.exists() else ""
    assert committed == render(), (
        f"docs/configuration.md is out of date with gateway/settings/; regenerate it with `{COMMAND}`"
    )


def test_the_configuration_reference_names_every_table_and_key() -> None:
    text = render()
    for name in Settings.model_fields:
        assert f"`{name}`" in text or f"[{name}" in text or f"[[{name}" in text, name
    for key in ("`command`", "`max_body_bytes`", "`preset`", "`sample_ratio`", "`drain_timeout`"):
        assert key in text, key
    assert type_name(Settings.model_fields["guardrails"].annotation) == "table"


def _alert_names() -> list[str]:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    return [rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def test_every_alert_has_a_section_in_the_runbook() -> None:
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    headings = set(re.findall(r"^#{2,3} `?(\w+)`?\s*$", runbook, re.MULTILINE))
    names = _alert_names()
    assert names, "no alert in deploy/prometheus/alerts.yml"
    missing = [name for name in names if name not in headings]
    assert not missing, f"docs/runbook.md needs a '## NAME' section for each of these alerts: {missing}"


CITATION = re.compile(r"`(tests/[\w/]+\.py)?(?:::(test_\w+))?`")


def cited_tests(text: str) -> list[tuple[str, str | None]]:
    """``(file, test)`` of each `` `tests/FILE.py::test_name` `` in ``text``; a bare
    `` `::test_name` `` is in the file cited last."""
    found: list[tuple[str, str | None]] = []
    last = ""
    for match in CITATION.finditer(text):
        path, name = match.groups()
        if path is None and name is None:
            continue
        last = path or last
        found.append((last, name))
    return found


def test_every_test_the_security_model_cites_exists() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    cited = cited_tests(text)
    assert len(cited) > 40, "docs/security.md lost its citations"
    missing = []
    for path, name in cited:
        source = ROOT / path
        if not source.exists():
            missing.append(path)
        elif name is not None and not re.search(rf"def {name}\(", source.read_text()):
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/security.md cites tests that do not exist: {missing}"


def test_the_readme_links_every_page_in_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    pages = sorted((ROOT / "docs").glob("*.md"))
    unlinked = [page.name for page in pages if f"(docs/{page.name}" not in readme]
    assert not unlinked, f"README.md's Documentation table should link these pages: {unlinked}"
