"""The mlflow-free readers answer exactly what MLflow's client answers: SQLite tables read
directly, and the REST API of a real `mlflow server`."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from mlops.config import TimeoutsConfig, TrackingConfig
from mlops.errors import ServiceUnavailable
from mlops.tracking import PRODUCTION, Tracking
from mlops.tracking.reader import RestReader, SqliteReader, open_reader

from services import MlflowServer, free_port


def fill(tracking: Tracking, name: str) -> str:
    """Runs with tags and metrics (one unfinished, one a dry run), versions, an alias, model tags."""
    experiment = tracking.experiment_id(f"{name}/train")
    for i, (f1, dry) in enumerate([(0.5, "false"), (0.7, "false"), (0.9, "true"), (0.6, "false")]):
        run = tracking.start_run(experiment, f"r{i}", {"mlops.dry_run": dry, "mlops.job": "retrain"})
        tracking.log_metrics(run.run_id, {"f1": f1, "accuracy": 0.8})
        tracking.end_run(run.run_id, "FINISHED")
        version = tracking.register(name, f"s3://models/{name}/{i}", run.run_id, {"gate_decision": "promoted", "i": str(i)}, "card")
    tracking.log_metrics(tracking.start_run(experiment, "running", {"mlops.dry_run": "false"}).run_id, {"f1": 1.0})
    tracking.set_alias(name, PRODUCTION, version.version)
    tracking.set_model_tag(name, "mlops.event.1", '{"at": "x"}')
    return experiment


def same_answers(reader: object, tracking: Tracking, name: str, experiment: str) -> None:
    assert reader.find_experiment_id(f"{name}/train") == experiment  # type: ignore[attr-defined]
    assert reader.find_experiment_id(f"{name}/absent") is None  # type: ignore[attr-defined]
    assert reader.alias(name, PRODUCTION) == tracking.alias(name, PRODUCTION)  # type: ignore[attr-defined]
    assert reader.alias(name, "previous") is None and reader.alias("absent", PRODUCTION) is None  # type: ignore[attr-defined]
    assert reader.model_tags(name) == tracking.model_tags(name) and reader.model_tags("absent") == {}  # type: ignore[attr-defined]
    ranked = reader.finished_runs(experiment, {"mlops.dry_run": "false"}, "f1", limit=10)  # type: ignore[attr-defined]
    assert [r.metrics["f1"] for r in ranked] == [0.7, 0.6, 0.5]  # the dry run and the running one left out
    assert ranked == tracking.finished_runs(experiment, {"mlops.dry_run": "false"}, "f1", limit=10)
    assert [r.metrics["f1"] for r in reader.finished_runs(experiment, order_metric="f1", ascending=True, limit=2)] == [0.5, 0.6]  # type: ignore[attr-defined]
    newest = reader.finished_runs(experiment, limit=10)  # type: ignore[attr-defined]
    assert newest == tracking.finished_runs(experiment, limit=10) and len(newest) == 4
    assert reader.finished_runs(experiment, since_ms=newest[0].start_time + 10**9) == []  # type: ignore[attr-defined]
    assert reader.run(newest[0].run_id) == tracking.run(newest[0].run_id)  # type: ignore[attr-defined]


def test_sqlite_reader_matches_mlflow(tmp_path: Path) -> None:
    config = TrackingConfig(uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_location=str(tmp_path / "art"))
    tracking = Tracking(config)
    experiment = fill(tracking, "m")
    reader = open_reader(config)
    assert isinstance(reader, SqliteReader)
    same_answers(reader, tracking, "m", experiment)
    assert open_reader(TrackingConfig(uri=f"sqlite:///{tmp_path}/none.db")) is None  # a new store: MLflow creates it


def test_rest_reader_matches_mlflow(mlflow_service: MlflowServer) -> None:
    config = TrackingConfig(uri=mlflow_service.url)
    tracking = Tracking(config)
    name = f"reader-{uuid.uuid4().hex[:8]}"
    experiment = fill(tracking, name)
    reader = open_reader(config)
    assert isinstance(reader, RestReader)
    same_answers(reader, tracking, name, experiment)


def test_rest_reader_maps_an_unreachable_server_to_a_retryable_error() -> None:
    reader = RestReader(f"http://127.0.0.1:{free_port()}", TimeoutsConfig(request_seconds=2, request_retries=1))
    with pytest.raises(ServiceUnavailable, match="unreachable"):
        reader.alias("m", PRODUCTION)


def test_the_views_import_no_mlflow(tmp_path: Path) -> None:
    """What makes `status` fast: the read-only commands never import mlflow on a known store."""
    import subprocess

    config = TrackingConfig(uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_location=str(tmp_path / "art"))
    fill(Tracking(config), "m")
    (tmp_path / "mlops.yaml").write_text(f"tracking: {{uri: '{config.uri}'}}\nmodels:\n  - name: m\n    source: {{uri: x.csv}}\n"
                                         "    target: y\n")
    code = ("import sys; from click.testing import CliRunner; from mlops.cli import main; "
            f"r = CliRunner().invoke(main, ['--config', '{tmp_path}/mlops.yaml', 'status']); "
            "assert r.exit_code == 0, r.output; assert 'v4' in r.output, r.output; print('mlflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
