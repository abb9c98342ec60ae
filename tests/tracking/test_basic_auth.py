"""The MLflow edge against a real `mlflow server --app-name basic-auth` (as deployed): its
non-admin users get 403, not 404, for an alias of a model that does not exist yet, which must
still read as "no such alias" (a fresh install's first retrain, drift-check and predict)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.config import TrackingConfig
from mlops.errors import RegistryError
from mlops.tracking import Tracking

from services import free_port, wait_until_up

ADMIN, ADMIN_PASSWORD = "admin", "admin-password-123"
JOBS, JOBS_PASSWORD = "mlops-jobs", "jobs-password-123"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("basic-auth")
    ini = state / "basic_auth.ini"
    ini.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{state}/auth.db\nadmin_username = {ADMIN}\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    port = free_port()
    env = {**os.environ, "MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-key", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONWARNINGS": "ignore"}
    log = tempfile.NamedTemporaryFile(prefix="mlflow-auth-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth", "--backend-store-uri",
                             f"sqlite:///{state}/mlflow.db", "--default-artifact-root", str(state / "artifacts"),
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/health", proc, 120, lambda: "mlflow server did not start: " + Path(log.name).read_text()[-2000:])
        from mlflow.server.auth.client import AuthServiceClient

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
            patch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
            admin = AuthServiceClient(url)
            admin.create_user(JOBS, JOBS_PASSWORD)
            admin.create_user("alice", "alice-password-123")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        Path(log.name).unlink(missing_ok=True)


def as_user(monkeypatch: pytest.MonkeyPatch, url: str, user: str, password: str) -> Tracking:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return Tracking(TrackingConfig(uri=url))


def test_an_alias_of_a_model_not_made_yet_is_none_for_a_non_admin(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = as_user(monkeypatch, server, JOBS, JOBS_PASSWORD)
    assert jobs.alias("churn-new", "production") is None
    experiment = jobs.experiment_id("auth")
    run = jobs.start_run(experiment, "r", {})
    version = jobs.register("churn-new", "runs:/" + run.run_id + "/model", run.run_id, {})
    assert jobs.alias("churn-new", "production") is None  # the model exists, the alias does not
    jobs.set_alias("churn-new", "production", version.version)
    alice = as_user(monkeypatch, server, "alice", "alice-password-123")
    found = alice.alias("churn-new", "production")
    assert found is not None and found.version == version.version
    with pytest.raises(RegistryError, match="PERMISSION_DENIED"):  # READ: she sees it, moves nothing
        alice.set_alias("churn-new", "production", version.version)


def test_a_wrong_password_is_a_registry_error_without_the_password(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = as_user(monkeypatch, server, JOBS, "not-the-jobs-password")
    with pytest.raises(RegistryError, match="rejected the credentials") as raised:
        wrong.alias("churn-new", "production")
    assert "not-the-jobs-password" not in str(raised.value)
