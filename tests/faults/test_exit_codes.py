"""Exit codes that drive Kubernetes correctly, on the embedded store (no server needed): config
errors exit 2 with their path, a defect exits 70 and does not stop the other models, a failed
inline retrain keeps the drift result, bad input columns and missing credentials exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from faults.harness import INJECT, job_env
from mlops.jobs.demo import write_demo

from conftest import END
from services import S3


def mlops(config: Path, *args: str, faults: list[dict[str, object]] | None = None,
          **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(INJECT), "--config", str(config), *args], env=job_env(faults, **extra),
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store with a production model trained before the shift, and two models configured."""
    paths = write_demo(tmp_path_factory.mktemp("codes"), END)
    config = yaml.safe_load(paths.config.read_text())
    twin = {**config["models"][0], "name": "churn2"}
    config["models"].append(twin)
    paths.config.write_text(yaml.safe_dump(config))
    trained = mlops(paths.config, "retrain", "--all", "--as-of", "2026-10-26")
    assert trained.returncode == 0, trained.stderr
    return paths.config


def edited(config: Path, folder: Path, change: str, to: str) -> Path:
    text = config.read_text()
    assert change in text
    path = folder / "mlops.yaml"
    path.write_text(text.replace(change, to))
    return path


@pytest.mark.parametrize(("value", "expected"), [
    ("lots", "models[0].training.params.n_estimators: Input should be a valid integer"),
    ("-5", "models[0].training.params.n_estimators: Input should be greater than or equal to 1"),
    ("2.5", "models[0].training.params.n_estimators: must be a whole number"),
])
def test_bad_training_params_exit_2_with_their_path(demo: Path, tmp_path: Path, value: str, expected: str) -> None:
    result = mlops(edited(demo, tmp_path, "n_estimators: 150", f"n_estimators: {value}"), "config", "check")
    assert result.returncode == 2 and expected in result.stderr, result.stderr


def test_tracking_uri_with_a_typo_in_its_scheme_exits_2(demo: Path, tmp_path: Path) -> None:
    config = edited(demo, tmp_path, "uri: ${MLOPS_DEMO_TRACKING_URI:-sqlite:///.mlops/mlflow.db}",
                    "uri: htpp://mlflow:5000")
    result = mlops(config, "config", "check")
    assert result.returncode == 2 and "tracking.uri: unknown scheme 'htpp'" in result.stderr, result.stderr


def test_a_defect_exits_70_names_its_model_and_the_others_still_run(demo: Path) -> None:
    planted = [{"at": "mlops.jobs.drift_check:decide", "action": "raise", "call": 1}]
    result = mlops(demo, "drift-check", "--all", "--as-of", "2026-10-26", "--json", faults=planted)
    assert result.returncode == 70, result.stderr
    assert "error: churn: internal error (a defect in mlops" in result.stderr
    assert [json.loads(line)["model"] for line in result.stdout.strip().splitlines()] == ["churn2"]


def test_a_failed_inline_retrain_keeps_the_drift_result(demo: Path) -> None:
    outage = [{"at": "mlops.jobs.retrain:load_training_data", "action": "unavailable"}]
    result = mlops(demo, "drift-check", "--model", "churn", "--as-of", "2026-11-23", "--json",
                   "--trigger-retrain", "inline", faults=outage)
    assert result.returncode == 1, result.stderr
    [line] = result.stdout.strip().splitlines()
    summary = json.loads(line)
    assert summary["retrain_needed"] and summary["run_id"]
    assert summary["triggered"].startswith("inline retrain failed") and "planted outage" in summary["trigger_error"]
    assert "error: churn: planted outage" in result.stderr


def beside(demo: Path, folder: Path, **model_changes: object) -> Path:
    """A config in `folder` on the demo's store and data, with churn2 changed as given."""
    config = yaml.safe_load(demo.read_text())
    config["tracking"]["uri"] = f"sqlite:///{demo.parent}/.mlops/mlflow.db"
    config["tracking"]["artifact_location"] = str(demo.parent / ".mlops" / "artifacts")
    for model in config["models"]:
        model["source"]["uri"] = str(demo.parent / "data" / "churn.parquet")
    config["models"][1].update(model_changes)
    path = folder / "mlops.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_numbers_arriving_as_text_are_refused_by_predict(demo: Path, tmp_path: Path) -> None:
    table = pq.read_table(demo.parent / "data" / "churn.parquet")
    as_text = pc.cast(table.column("monthly_charges"), pa.string()).to_pylist()
    as_text[-1] = "n/a"
    broken = table.set_column(table.column_names.index("monthly_charges"), "monthly_charges", pa.array(as_text))
    copy = tmp_path / "churn-as-text.parquet"
    pq.write_table(broken, copy)
    source = {"uri": str(copy), "timestamp_column": "event_time", "id_columns": ["customer_id"]}
    config = beside(demo, tmp_path, source=source, predictions={"uri": str(tmp_path / "out")})
    result = mlops(config, "predict", "--model", "churn2", "--as-of", "2026-11-23")
    assert result.returncode == 2, result.stderr
    assert "numeric feature 'monthly_charges'" in result.stderr and "'n/a'" in result.stderr


def test_s3_predictions_without_credentials_exit_2(demo: Path, tmp_path: Path, s3: S3) -> None:
    s3.client().create_bucket(Bucket="predictions")
    config = beside(demo, tmp_path, predictions={"uri": "s3://predictions/out"})
    env = job_env(AWS_ENDPOINT_URL=s3.endpoint, AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
                  AWS_CONFIG_FILE=str(tmp_path / "none"))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(key)
    result = subprocess.run([sys.executable, str(INJECT), "--config", str(config), "predict", "--model", "churn2",
                             "--as-of", "2026-11-23"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 2, result.stderr
    assert "error: churn2: s3://predictions/out/churn2/" in result.stderr and "credentials" in result.stderr
