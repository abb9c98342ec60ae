"""Helpers of the fault suite. The real stack it breaks: PostgreSQL (features and MLflow's metadata), moto's S3
server, a real `mlflow server` on both, each reached through a `FaultProxy` so a test can cut or
hang it mid-job without losing its state; jobs run as real `mlops` processes (tests/faults/inject.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mlflow.tracking import MlflowClient

from faults.proxy import FaultProxy, Mode

from services import S3, Postgres

INJECT = Path(__file__).with_name("inject.py")
TABLE = "churn_features"


@dataclass
class Stack:
    postgres: Postgres
    s3_direct: S3
    s3: FaultProxy  # between the MLflow server and S3
    mlflow: FaultProxy  # between the jobs and the MLflow server
    database: FaultProxy  # between the jobs and the features database
    mlflow_url: str  # direct, for the test's own reads
    bucket: str
    client: MlflowClient


@contextmanager
def outage(proxy: FaultProxy, mode: Mode = "down") -> Iterator[None]:
    """The service behind `proxy` is down (or hung) for the block, and back after it."""
    proxy.set(mode)
    try:
        yield
    finally:
        proxy.set("up")


def write_config(stack: Stack, folder: Path, names: list[str], **overrides: Any) -> Path:
    """A config for models `names` on the stack, every service through its proxy."""
    via_proxy = stack.postgres.uri().replace(f":{stack.postgres.port}/", f":{stack.database.port}/")
    promotion = {"min_metrics": {"accuracy": 0.6, "roc_auc": 0.6}, "compare_metric": "f1",
                 "min_improvement": overrides.pop("min_improvement", 0.0)}
    models = []
    for name in names:
        models.append({
            "name": name,
            "source": {"uri": overrides.get("source_uri", via_proxy), "table": TABLE, "timestamp_column": "event_time",
                       "id_columns": ["customer_id"]},
            "target": "churned",
            "categorical_features": ["plan", "region", "contract"],
            "training": {"window_days": 120, "split": "time", "params": {"max_depth": 3, "n_estimators": 40}},
            "promotion": promotion,
            "drift": {"current_window_days": 21},
            "predictions": {"table": f"{name}_predictions"},
        })
    config = {
        "tracking": {"uri": stack.mlflow.url, "experiment_prefix": "faults"},
        "timeouts": overrides.get("timeouts", {"connect_seconds": 3, "request_seconds": 10, "request_retries": 1,
                                               "statement_seconds": 30}),
        "locks": {"kind": "file", "directory": str(folder / "locks")},
        "models": models,
    }
    path = folder / "mlops.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def job_env(faults: list[dict[str, Any]] | None = None, **extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PYTHONWARNINGS": "ignore", "MLOPS_ACTOR": "fault-suite",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "MLOPS_TEST_FAULTS": json.dumps(faults or [])}
    for key in ("PYTHONPATH", "LANG"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra)
    return env


def start(config: Path, *args: str, faults: list[dict[str, Any]] | None = None, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(INJECT), "--config", str(config), *args], env=job_env(faults, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(config: Path, *args: str, faults: list[dict[str, Any]] | None = None, timeout: float = 240,
        **extra: str) -> subprocess.CompletedProcess[str]:
    proc = start(config, *args, faults=faults, **extra)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def pause(folder: Path, name: str, at: str, when: str = "before", **more: Any) -> dict[str, Any]:
    return {"at": at, "when": when, "action": "pause", "dir": str(folder), "name": name, **more}


def wait_paused(folder: Path, name: str, proc: subprocess.Popen[str], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not (folder / f"{name}.paused").exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the job ended (exit {proc.returncode}) before pausing at {name}: {err[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the job never paused at {name}")
        time.sleep(0.1)


def release(folder: Path, name: str) -> None:
    (folder / f"{name}.go").touch()


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def versions(client: MlflowClient, name: str) -> list[Any]:
    return sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))


def runs(client: MlflowClient, experiment: str, **tags: str) -> list[Any]:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    condition = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    return list(client.search_runs([found.experiment_id], condition))
