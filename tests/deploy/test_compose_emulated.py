"""docker-compose.mlflow.yml run as written, under the deployment emulator: the services and jobs
from the file after interpolation from .env.example, with a password that breaks URIs built by
interpolation (`@`, `%`, `:`, `/`), in the order and conditions the file declares. MLflow runs
with basic-auth: anonymous requests get 401, the jobs run as their own user."""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, emulator_ready
from .emulator import Emulator
from .emulator.compose import Compose, env_file, load

pytestmark = pytest.mark.emulator

HOSTILE_PASSWORD = "p@ss%40w:rd/#?"
# The jobs' MLflow password, hostile too (the ini that carries the auth database's URI
# interpolates `%`; a Basic credential holds `:`).
JOBS_PASSWORD = "j0bs:p%ss@w0rd/x"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    emulator_ready()
    state = tmp_path_factory.mktemp("compose")
    # The operator's secret files: the examples, with a hostile jobs password.
    secrets = state / "secrets"
    shutil.copytree(ROOT / "deploy" / "compose" / "secrets.example", secrets)
    (secrets / "mlflow-jobs-password").write_text(JOBS_PASSWORD + "\n")
    env = {**env_file(ROOT / ".env.example"), "POSTGRES_PASSWORD": HOSTILE_PASSWORD, "MLOPS_SECRETS_DIR": str(secrets)}
    emulator = Emulator(state, hosts=sorted(load(ROOT / "docker-compose.mlflow.yml", env)))
    try:
        yield Compose(ROOT / "docker-compose.mlflow.yml", env, emulator, state)
    finally:
        emulator.close()


def admin(compose: Compose) -> dict[str, str]:
    password = (Path(compose.env["MLOPS_SECRETS_DIR"]) / "mlflow-admin-password").read_text().strip()
    return basic(compose.env["MLFLOW_ADMIN_USERNAME"], password)


def test_services_start_in_order_and_mlflow_answers(compose: Compose) -> None:
    mlflow = compose.up("mlflow")
    compose.up("pushgateway")
    compose.emulator.wait_for("http://mlflow:5000/health", mlflow, 120)  # /health needs no credentials
    assert compose.running["create-bucket"].proc.returncode == 0
    assert "Bucket created successfully" in compose.running["create-bucket"].output
    prepared = compose.running["mlflow-prepare"]
    assert prepared.proc.returncode == 0 and "created MLflow user 'mlops-jobs'" in prepared.output, prepared.output[-3000:]
    assert JOBS_PASSWORD not in prepared.output + mlflow.output and HOSTILE_PASSWORD not in prepared.output + mlflow.output


def test_allowed_hosts_keep_mlflow_defaults(compose: Compose) -> None:
    """A port remap (5001:5000), a port-forward and the service name reach the API; others do not."""
    url = "http://mlflow:5000/ajax-api/2.0/mlflow/experiments/search?max_results=1"
    for host in ("mlflow:5000", "mlflow", "localhost:5001", "127.0.0.1:8080", "10.1.2.3:5000"):
        status, body = compose.emulator.fetch(url, {"Host": host, **admin(compose)})
        assert status == 200, (host, body[:300])
    assert compose.emulator.fetch(url, {"Host": "evil.example:5000", **admin(compose)})[0] == 403


def test_mlflow_refuses_anonymous_requests_and_lets_the_admin_in(compose: Compose) -> None:
    move = json.dumps({"name": "churn", "alias": "production", "version": "1"}).encode()
    alias_url = "http://mlflow:5000/api/2.0/mlflow/registered-models/alias"
    status, body = compose.emulator.fetch(alias_url, {"Content-Type": "application/json"}, move)
    assert status == 401, body[:300]
    wrong = basic("mlops-jobs", "not-the-password-at-all")
    assert compose.emulator.fetch(alias_url, {"Content-Type": "application/json", **wrong}, move)[0] == 401
    assert compose.emulator.fetch("http://mlflow:5000/")[0] == 401  # the UI asks for a login
    # The UI admin logs in (the browser sends the same Basic credential) and is the admin.
    status, page = compose.emulator.fetch("http://mlflow:5000/", admin(compose))
    assert status == 200 and "<html" in page.lower()
    status, body = compose.emulator.fetch("http://mlflow:5000/api/2.0/mlflow/users/current", admin(compose))
    assert status == 200 and json.loads(body)["user"]["is_admin"] is True, body[:300]


def test_jobs_run_end_to_end_and_push_metrics(compose: Compose) -> None:
    outputs = {}
    for job, command in [("seed-demo-data", ()), ("retrain", ()), ("drift-check", ()), ("predict", ())]:
        finished = compose.run(job, *command)
        assert finished.returncode == 0, f"{job}:\n{finished.output[-4000:]}"
        outputs[job] = finished.output
        assert HOSTILE_PASSWORD not in finished.output
    assert re.search(r"loaded \d+ demo rows", outputs["seed-demo-data"])
    assert JOBS_PASSWORD not in "".join(outputs.values())
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


def test_the_jobs_user_owns_what_it_made_and_humans_only_read(compose: Compose) -> None:
    """After the jobs ran: their user made the registry's model; a human user (default READ) sees
    it and cannot move an alias past the gate; the jobs' user is no admin."""
    jobs = basic("mlops-jobs", JOBS_PASSWORD)
    status, body = compose.emulator.fetch("http://mlflow:5000/api/2.0/mlflow/users/current", jobs)
    assert status == 200 and json.loads(body)["user"]["is_admin"] is False
    human = json.dumps({"username": "alice", "password": "alice-password-123"}).encode()
    created = compose.emulator.fetch("http://mlflow:5000/api/2.0/mlflow/users/create",
                                     {"Content-Type": "application/json", **admin(compose)}, human)
    assert created[0] == 200, created
    alice = basic("alice", "alice-password-123")
    assert compose.emulator.fetch("http://mlflow:5000/api/2.0/mlflow/registered-models/get?name=churn", alice)[0] == 200
    move = json.dumps({"name": "churn", "alias": "production", "version": "1"}).encode()
    status, _ = compose.emulator.fetch("http://mlflow:5000/api/2.0/mlflow/registered-models/alias",
                                       {"Content-Type": "application/json", **alice}, move)
    assert status == 403


def test_mlflow_prepare_reruns_and_a_wrong_jobs_password_is_exit_2(compose: Compose) -> None:
    """`docker compose up` reruns the one-shot mlflow-prepare: nothing changes. A job whose
    password is wrong exits 2 with one line that names the cause, never the password."""
    again = compose.run("mlflow-prepare", timeout=240)
    assert again.returncode == 0 and "created MLflow" not in again.output, again.output[-3000:]
    predict = compose.container("predict")
    wrong = "wrong-jobs-password-1234"
    wrong_file = compose.state / "wrong-jobs-password"
    wrong_file.write_text(wrong + "\n")
    predict.mounts = [{**m, "source": str(wrong_file)} if m["target"] == "/run/secrets/mlflow-jobs-password" else m for m in predict.mounts]
    finished = compose.emulator.run(predict, 300)
    assert finished.returncode == 2, finished.output[-3000:]
    assert wrong not in finished.output and JOBS_PASSWORD not in finished.output
    errors = [line for line in finished.output.splitlines() if "credentials" in line]
    assert len(errors) == 1, finished.output[-3000:]
