"""docker-compose.mlflow.yml run as written, under the deployment emulator: the services and jobs
from the file after interpolation from .env.example, with a password that breaks URIs built by
interpolation (`@`, `%`, `:`, `/`), in the order and conditions the file declares."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from .conftest import ROOT, emulator_ready
from .emulator import Emulator
from .emulator.compose import Compose, env_file, load

pytestmark = pytest.mark.emulator

HOSTILE_PASSWORD = "p@ss%40w:rd/#?"


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    emulator_ready()
    state = tmp_path_factory.mktemp("compose")
    env = {**env_file(ROOT / ".env.example"), "POSTGRES_PASSWORD": HOSTILE_PASSWORD}
    emulator = Emulator(state, hosts=sorted(load(ROOT / "docker-compose.mlflow.yml", env)))
    try:
        yield Compose(ROOT / "docker-compose.mlflow.yml", env, emulator, state)
    finally:
        emulator.close()


def test_services_start_in_order_and_mlflow_answers(compose: Compose) -> None:
    mlflow = compose.up("mlflow")
    compose.up("pushgateway")
    compose.emulator.wait_for("http://mlflow:5000/health", mlflow, 120)
    assert compose.running["create-bucket"].proc.returncode == 0
    assert "Bucket created successfully" in compose.running["create-bucket"].output


def test_allowed_hosts_keep_mlflow_defaults(compose: Compose) -> None:
    """A port remap (5001:5000), a port-forward and the service name reach the API; others do not."""
    url = "http://mlflow:5000/ajax-api/2.0/mlflow/experiments/search?max_results=1"
    for host in ("mlflow:5000", "mlflow", "localhost:5001", "127.0.0.1:8080", "10.1.2.3:5000"):
        status, body = compose.emulator.fetch(url, {"Host": host})
        assert status == 200, (host, body[:300])
    assert compose.emulator.fetch(url, {"Host": "evil.example:5000"})[0] == 403


def test_jobs_run_end_to_end_and_push_metrics(compose: Compose) -> None:
    outputs = {}
    for job, command in [("seed-demo-data", ()), ("retrain", ()), ("drift-check", ()), ("predict", ())]:
        finished = compose.run(job, *command)
        assert finished.returncode == 0, f"{job}:\n{finished.output[-4000:]}"
        outputs[job] = finished.output
        assert HOSTILE_PASSWORD not in finished.output
    assert re.search(r"loaded \d+ demo rows", outputs["seed-demo-data"])
    assert "churn: v1 promoted" in outputs["retrain"]
    assert "triggered: " in outputs["drift-check"]  # the demo rows drift in their last 21 days: retrained inline
    assert "churn: v" in outputs["predict"] and "scored" in outputs["predict"]

    status, metrics = compose.emulator.fetch("http://pushgateway:9091/metrics")
    assert status == 200
    for job in ("mlops-retrain", "mlops-drift-check", "mlops-predict"):
        assert re.search(rf'mlops_job_last_success_timestamp_seconds{{[^}}]*job="{job}"[^}}]*model="churn"', metrics), job


def test_mlflow_memory_and_read_only_root(compose: Compose) -> None:
    mlflow = compose.running["mlflow"]
    peak = mlflow.peak_memory()
    print(f"compose mlflow peak memory: {peak / 2**20:.0f} MiB")
    assert mlflow.oom_kills() == 0 and mlflow.proc.poll() is None
    assert peak < 1024 * 2**20, "job execution must stay off (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false)"
    probe = compose.emulator.exec(mlflow, ["/bin/sh", "-c", "touch /work/x || echo read-only"])
    assert "read-only" in probe.stdout + probe.stderr, probe
