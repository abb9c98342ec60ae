"""Job metrics against a real Pushgateway."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlops.jobs.demo import write_demo
from mlops.metrics import JobMetrics, push

from conftest import END


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()  # noqa: S310 - loopback
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("mlops_"):
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float | None:
    for (sample, found), number in samples.items():
        if sample == name and set(labels.items()) <= set(found):
            return number
    return None


def test_jobs_push_their_outcomes(tmp_path: Path, pushgateway_url: str, subprocess_env: dict[str, str]) -> None:
    config = write_demo(tmp_path, END).config
    env = {**subprocess_env, "MLOPS_PUSHGATEWAY_URL": pushgateway_url}
    for args in (["retrain", "--model", "churn", "--as-of", "2026-10-26"], ["drift-check", "--all", "--as-of", "2026-11-23"]):
        result = subprocess.run([sys.executable, "-m", "mlops", "--config", str(config), *args], env=env,
                                capture_output=True, text=True, timeout=180, check=False)
        assert result.returncode == 0, result.stderr
    samples = scrape(pushgateway_url)
    retrain = {"job": "mlops-retrain", "model": "churn"}
    drift = {"job": "mlops-drift-check", "model": "churn"}
    assert value(samples, "mlops_job_last_success_timestamp_seconds", **retrain) > 1.7e9
    assert value(samples, "mlops_candidate_promoted", **retrain) == 1.0
    assert 0.5 < value(samples, "mlops_candidate_metric", metric="accuracy", **retrain) < 1.0
    assert value(samples, "mlops_production_version", **retrain) == 1.0
    assert value(samples, "mlops_retrain_needed", **drift) == 1.0
    assert value(samples, "mlops_feature_drifted", feature="monthly_charges", **drift) == 1.0
    assert value(samples, "mlops_feature_drifted", feature="region", **drift) == 0.0
    assert value(samples, "mlops_feature_psi", feature="monthly_charges", **drift) > 0.2
    assert value(samples, "mlops_drift_share", **drift) == pytest.approx(2 / 6)

    # A failure records its time and keeps the last success.
    success = value(samples, "mlops_job_last_success_timestamp_seconds", **retrain)
    config.write_text(config.read_text().replace("./data/churn.parquet", "./data/missing.parquet"))
    failed = subprocess.run([sys.executable, "-m", "mlops", "--config", str(config), "retrain", "--model", "churn"], env=env,
                            capture_output=True, text=True, timeout=180, check=False)
    assert failed.returncode == 2
    after = scrape(pushgateway_url)
    assert value(after, "mlops_job_last_failure_timestamp_seconds", **retrain) >= success
    assert value(after, "mlops_job_last_success_timestamp_seconds", **retrain) == success


def test_unreachable_pushgateway_never_fails_the_job() -> None:
    from services import free_port

    assert push(JobMetrics("retrain", "churn", {"mlops_drift_share": 0.1}), url=f"http://127.0.0.1:{free_port()}") is False
    assert push(JobMetrics("retrain", "churn"), url=None) is False
