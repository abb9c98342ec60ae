"""The CronJobs' containers, run as local processes: the exact args and env of the rendered dev
overlay, against a real MLflow server (PostgreSQL + S3) instead of the cluster's Services.
Only what a cluster provides is substituted: mounted files become temp files, Service names
become loopback addresses, the downward API gets the values Kubernetes would give."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlops.data.sinks import replace_table
from mlops.jobs.demo import make_dataset

from .conftest import objects
from conftest import store_client
from services import S3, MlflowServer, Postgres


@pytest.fixture
def cluster_files(tmp_path: Path, rendered: dict[str, Path], postgres: Postgres, s3: S3) -> dict[str, Path]:
    docs = objects(rendered["dev"])
    config = next(o for o in docs if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("mlops-config"))
    files = {
        "/etc/mlops/config.yaml": config["data"]["config.yaml"],
        "/etc/mlops/secrets/database-uri": postgres.uri(),
        "/etc/mlops/secrets/aws-credentials": "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    }
    local = {}
    for mounted, content in files.items():
        path = tmp_path / mounted.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        local[mounted] = path
    return local


def container_env(container: dict, files: dict[str, Path], services: dict[str, str], job: str) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "ignore", "AWS_DEFAULT_REGION": "us-east-1"}
    downward = {"metadata.labels['batch.kubernetes.io/job-name']": f"{job}-29400000", "metadata.namespace": "mlops"}
    for entry in container["env"]:
        if "value" in entry:
            value = entry["value"]
            for mounted, path in files.items():
                value = value.replace(mounted, str(path))
            for service, address in services.items():
                value = value.replace(service, address)
            env[entry["name"]] = value
        else:
            env[entry["name"]] = downward[entry["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


def test_cronjob_commands_run_against_real_services(
    rendered: dict[str, Path], cluster_files: dict[str, Path], postgres: Postgres, s3: S3, mlflow_service: MlflowServer,
    tmp_path: Path,
) -> None:
    # Undrifted rows ending today: retrain promotes v1 and the daily check finds nothing to
    # trigger (a trigger would need the Kubernetes API, which cannot run here).
    from mlops.jobs.common import as_of_moment

    replace_table(postgres.uri(), "churn_features", make_dataset(as_of_moment(None), shift_days=0))
    services = {"http://mlflow:5000": mlflow_service.url}
    cronjobs = {o["metadata"]["name"]: o for o in objects(rendered["dev"]) if o["kind"] == "CronJob"}
    outputs = {}
    for name in ("retrain", "drift-check", "predict"):
        container = cronjobs[name]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        assert "command" not in container  # the image's ENTRYPOINT is `mlops`
        env = container_env(container, cluster_files, services, name)
        env["AWS_ENDPOINT_URL"] = s3.endpoint
        result = subprocess.run([sys.executable, "-m", "mlops", *container["args"]], env=env, capture_output=True,
                                text=True, timeout=300, cwd=tmp_path, check=False)
        assert result.returncode == 0, f"{name}: {result.stderr[-3000:]}"
        outputs[name] = result.stdout
    assert "churn: v1 promoted" in outputs["retrain"]
    assert "no drift" in outputs["drift-check"]
    assert "churn: v1 scored" in outputs["predict"] and "table churn_predictions" in outputs["predict"]

    client = store_client(mlflow_service.url)
    version = client.get_model_version_by_alias("churn", "production")
    # The Job name's suffix is the scheduled time in minutes since the epoch: 29,400,000 min.
    assert version.tags["run_key"] == "retrain:scheduled:2025-11-24T16:00Z"
    # Artifacts went through the server to S3, not to the job's filesystem.
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=mlflow_service.bucket).get("Contents", [])]
    assert any(k.endswith("baseline/profile.json") for k in keys)
    assert any(k.endswith("drift_report.html") for k in keys)
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / ".mlops").exists()
