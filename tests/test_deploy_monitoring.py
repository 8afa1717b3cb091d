"""deploy/ ships a Grafana dashboard and Prometheus alert rules: the rules pass ``promtool check
rules``, and every metric their expressions and the dashboard's queries name is one a running
gateway really exports (a renamed metric would otherwise leave a silent, empty panel)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support import ROOT, RunningGateway, default_settings, fixture_server, running_gateway

DASHBOARD = ROOT / "deploy" / "grafana" / "portcullis.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
SCRAPE = ROOT / "deploy" / "prometheus" / "scrape.yml"
ENSURE = ROOT / "tests" / "tools" / "ensure-promtool.sh"
PROMETHEUS_OWN = frozenset({"up"})
"""Series Prometheus makes itself, not the gateway."""
METRIC = re.compile(r"\b((?:portcullis|process|python)_[a-z0-9_]+)")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}


def promtool() -> str:
    """promtool, installed by tests/tools/ensure-promtool.sh when missing; skipped only off CI."""
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if found:
        return found
    run = subprocess.run(["bash", str(ENSURE)], capture_output=True, text=True)
    found = shutil.which("promtool")
    if run.returncode == 0 and found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"promtool is needed on CI: {run.stderr.strip()}")
    pytest.skip(f"promtool is not installed and could not be: {run.stderr.strip()}")


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "query") and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard)
    return found


def rule_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every sample name a running gateway exports (families without samples yet included)."""
    tmp = Path(tmp_path_factory.mktemp("deploy-monitoring"))
    settings = default_settings({"alpha": fixture_server("alpha")})
    with running_gateway(tmp, settings) as gateway:
        return names_of(scrape_text(gateway))


def scrape_text(gateway: RunningGateway) -> str:
    response = httpx2.get(f"{gateway.base}/metrics", headers=gateway.headers(), timeout=10.0)
    assert response.status_code == 200, response.text
    return response.text


def names_of(text: str) -> set[str]:
    """Sample names, and each family's name prefixed with ``family:``."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(f"family:{family.name}")
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def test_alert_rules_pass_promtool() -> None:
    tool = promtool()
    result = subprocess.run([tool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_example_passes_promtool(tmp_path: Path) -> None:
    tool = promtool()
    config = tmp_path / "prometheus.yml"
    config.write_text(SCRAPE.read_text())
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    result = subprocess.run(
        [tool, "check", "config", "--syntax-only", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_named_is_exported(source: str, exported: set[str]) -> None:
    expressions = dashboard_expressions() if source == "dashboard" else rule_expressions()
    assert expressions
    named = {name for expr in expressions for name in METRIC.findall(expr)}
    assert named
    assert named - exported == set(), f"{source} names metrics the gateway does not export"


def test_the_dashboard_shows_every_gateway_metric(exported: set[str]) -> None:
    shown = {name for expr in dashboard_expressions() for name in METRIC.findall(expr)}
    families = {name.removeprefix("family:") for name in exported if name.startswith("family:portcullis_")}
    missing = {family for family in families if not any(s.startswith(family) for s in shown)}
    assert missing == set(), "add a panel for these"


def test_rules_name_only_prometheus_own_series_besides_ours() -> None:
    for expr in rule_expressions():
        bare = re.findall(r"(?<![\w\"$.])([a-z_][a-z0-9_]*)\{", expr)
        assert set(bare) - PROMETHEUS_OWN - set(METRIC.findall(expr)) == set(), expr


def test_the_dashboard_is_importable_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "portcullis"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["expr"].strip(), panel["title"]


def test_ensure_promtool_says_what_to_do_where_it_cannot_install(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    bash = shutil.which("bash")
    assert bash
    (bin_dir / "bash").symlink_to(bash)
    bare = {"PATH": str(bin_dir)}
    result = subprocess.run([bash, str(ENSURE)], env=bare, capture_output=True, text=True)
    assert result.returncode == 2
    assert "apt-get is not available" in result.stderr and "PROMTOOL=" in result.stderr
    missing = {**bare, "PROMTOOL": str(tmp_path / "nothing")}
    result = subprocess.run([bash, str(ENSURE)], env=missing, capture_output=True, text=True)
    assert result.returncode == 2 and "not an executable file" in result.stderr
