"""Alert rules under promtool (real binary from Debian's prometheus package) and the dashboard's
queries against the metric names the jobs actually push."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile

import yaml

from mlops.metrics import HELP

from .conftest import ROOT
from services import need_tool

MONITORING = ROOT / "k8s" / "base" / "monitoring"


def promtool() -> str:
    return need_tool("promtool")


def test_rules_are_valid_and_their_unit_tests_pass() -> None:
    check = subprocess.run([promtool(), "check", "rules", "alerts.rules.yml"], cwd=MONITORING, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run([promtool(), "test", "rules", "alerts.test.yml"], cwd=MONITORING, capture_output=True, text=True)
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(mlops_[a-z_]+)\b", expr))


def test_rules_and_dashboard_only_use_metrics_the_jobs_push() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.rules.yml").read_text())
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used |= metric_names(rule["expr"])
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= metric_names(target["expr"])
    assert used and used <= set(HELP), sorted(used - set(HELP))
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {"MlopsJobFailing", "MlopsDriftCheckStale", "MlopsRetrainStale", "MlopsRetrainNeeded",
            "MlopsDriftCheckNeverSucceeded", "MlopsRetrainNeverSucceeded", "MlopsDataStale", "MlopsVolumeAnomaly"} <= alerts


def test_the_pushgateway_fixture_keeps_its_series_to_itself(pushgateway_url: str) -> None:
    """Debian's Pushgateway persists to one shared file by default; a test run gets its own."""
    import urllib.request

    with urllib.request.urlopen(f"{pushgateway_url}/api/v1/status", timeout=5) as response:  # noqa: S310 - loopback
        flags = json.load(response)["data"]["flags"]
    assert flags["persistence.file"].startswith(tempfile.gettempdir()) and "mlops-pushgateway-" in flags["persistence.file"]
