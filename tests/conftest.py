from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from mlops.config import Config

sys.path.insert(0, str(Path(__file__).parent))

from services import MISSING_TOOLS, S3, MlflowServer, Postgres, mlflow_server, moto_server, postgres_server, pushgateway

END = datetime(2026, 11, 23, tzinfo=UTC)

_ISOLATED_ENV = ("MLFLOW_TRACKING_URI", "MLOPS_CONFIG", "MLOPS_JOB_NAME", "JOB_COMPLETION_INDEX",
                 "KUBERNETES_SERVICE_HOST", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "emulator: runs the deployment emulator (root, namespaces, cgroups)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line naming the system tools whose absence skipped tests, and where each comes from."""
    if MISSING_TOOLS:
        listed = "; ".join(f"{name} ({package})" for name, package in sorted(MISSING_TOOLS.items()))
        terminalreporter.write_line(f"skipped for missing system tools: {listed}", yellow=True)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _ISOLATED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLOPS_ACTOR", "pytest")
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()


def with_policy(config: Config, **promotion: Any) -> Config:
    """The config with the first model's promotion policy changed (e.g. a gate nothing passes)."""
    model = config.models[0]
    changed = model.model_copy(update={"promotion": model.promotion.model_copy(update=promotion)})
    return config.model_copy(update={"models": [changed]})


def without_predictions(config: Path) -> Path:
    """The demo's config file with its model's predictions section removed (predict then fails
    with a config error, exit 2): the simplest failing job for tests of failure reporting."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for model in data["models"]:
        model.pop("predictions", None)
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


def trained_demo(folder: Path, as_of: datetime) -> dict[str, Any]:
    """The demo written into `folder` with its model retrained (and promoted) at `as_of`: its
    config, paths, the run id and a client on its store."""
    from mlops.config import load_config
    from mlops.jobs.demo import write_demo
    from mlops.jobs.retrain import retrain

    paths = write_demo(folder, END)
    config = load_config(paths.config, environ={})
    result = retrain(config, config.models[0], as_of, run_key="base")
    assert result.outcome == "promoted"
    return {"config": config, "paths": paths, "run_id": result.run_id, "client": store_client(config.tracking.uri)}


def store_client(uri: str) -> MlflowClient:
    """A client on exactly this store: MlflowClient(uri) alone takes the registry URI from
    MLflow's process-wide setting, which another test may have pointed elsewhere."""
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def read_artifact(client: MlflowClient, run_id: str, path: str) -> str:
    """An artifact's text, read through this store's client (the package sets no global URI)."""
    with tempfile.TemporaryDirectory() as tmp:
        return Path(client.download_artifacts(run_id, path, tmp)).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    with moto_server() as server:
        yield server


@pytest.fixture
def s3_env(s3: S3, monkeypatch: pytest.MonkeyPatch) -> S3:
    """The moto S3 server, with this test's environment pointing boto3 and pyarrow at it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    return s3


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ISOLATED_ENV}
    env["PYTHONWARNINGS"] = "ignore"
    return env


@pytest.fixture(scope="session")
def mlflow_service(postgres: Postgres, s3: S3) -> Iterator[MlflowServer]:
    with mlflow_server(postgres, s3) as server:
        yield server


@pytest.fixture(scope="session")
def pushgateway_url() -> Iterator[str]:
    with pushgateway() as url:
        yield url
