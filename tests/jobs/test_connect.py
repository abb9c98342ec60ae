"""`mlops config check --connect` against the real services: the MLflow server, PostgreSQL, S3
(moto's server) and the Pushgateway; the production profile from a real retrain."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner, Result

from mlops.cli import main
from mlops.config import load_config
from mlops.data.sinks import replace_table
from mlops.jobs.demo import make_dataset, write_demo
from mlops.jobs.retrain import retrain

from conftest import END
from services import S3, MlflowServer, Postgres, free_port


def check(config: Path) -> tuple[Result, dict[str, str]]:
    """The command's result and its check lines: name -> the line."""
    result = CliRunner().invoke(main, ["--config", str(config), "config", "check", "--connect"])
    lines = result.stdout.split("---\n", 1)[-1].splitlines()
    return result, {line.split(" ", 1)[1].split(":", 1)[0].strip(): line for line in lines if ":" in line}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, s3: S3) -> S3:
    for key, value in {"AWS_ENDPOINT_URL": s3.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    return s3


def test_every_service_reachable_and_every_column_present(tmp_path: Path, postgres: Postgres, aws: S3,
                                                          mlflow_service: MlflowServer, pushgateway_url: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rows = make_dataset(END)
    replace_table(postgres.uri(), "connect_features", rows)
    aws.client().create_bucket(Bucket="connect")
    sink = io.BytesIO()
    pq.write_table(rows, sink)
    aws.client().put_object(Bucket="connect", Key="churn.parquet", Body=sink.getvalue())
    # Sources given as a folder and as an S3 prefix of Parquet files, read as the jobs read them.
    (tmp_path / "folder").mkdir()
    half = rows.num_rows // 2
    for i, part in enumerate((rows.slice(0, half), rows.slice(half))):
        pq.write_table(part, tmp_path / "folder" / f"part-{i}.parquet")
        part_sink = io.BytesIO()
        pq.write_table(part, part_sink)
        aws.client().put_object(Bucket="connect", Key=f"parts/part-{i}.parquet", Body=part_sink.getvalue())
    monkeypatch.setenv("MLOPS_PUSHGATEWAY_URL", pushgateway_url)
    config = tmp_path / "mlops.yaml"
    model = {"target": "churned", "categorical_features": ["plan", "region", "contract"]}
    config.write_text(yaml.safe_dump({
        "tracking": {"uri": mlflow_service.url, "experiment_prefix": "connect"},
        "models": [
            {"name": "pg", **model, "source": {"uri": postgres.uri(), "table": "connect_features",
                                               "timestamp_column": "event_time", "id_columns": ["customer_id"]},
             "predictions": {"table": "connect_predictions"}},
            {"name": "lake", **model, "source": {"uri": "s3://connect/churn.parquet", "timestamp_column": "event_time"},
             "predictions": {"uri": "s3://connect/predictions"}},
            {"name": "folder", **model, "source": {"uri": str(tmp_path / "folder"), "timestamp_column": "event_time"}},
            {"name": "prefix", **model, "source": {"uri": "s3://connect/parts/", "timestamp_column": "event_time"}},
        ]}))
    result, lines = check(config)
    assert result.exit_code == 0, result.output
    assert all(line.startswith("ok ") for line in lines.values()), result.output
    assert {"tracking", "pg source", "pg columns", "pg sink", "lake source", "lake columns", "lake sink",
            "folder source", "folder columns", "prefix source", "prefix columns", "pushgateway"} <= set(lines)
    assert "no production version yet" in lines["pg production profile"]
    assert "will be created on the first predict" in lines["pg sink"]
    assert "connect_predictions" not in _tables(postgres)  # nothing was written


def _tables(postgres: Postgres) -> set[str]:
    from adbc_driver_postgresql import dbapi

    with dbapi.connect(postgres.uri()) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in cursor.fetchall()}


def test_failures_name_what_is_wrong_and_exit_with_the_worst_code(tmp_path: Path, postgres: Postgres,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    paths = write_demo(tmp_path, END)
    config = load_config(paths.config, environ={})
    assert retrain(config, config.models[0], END - timedelta(days=7), run_key="connect").outcome == "promoted"
    healthy, lines = check(paths.config)
    assert healthy.exit_code == 0, healthy.output
    assert "6 column(s) match the production profile's features and dtypes" in lines["churn columns"]
    assert lines["pushgateway"].startswith("skip ")

    # The source changes under the model: a feature gone, another turned into text.
    table = pq.read_table(paths.data).drop_columns(["tenure"])
    table = table.set_column(table.schema.get_field_index("monthly_charges"), "monthly_charges",
                             pc.cast(table["monthly_charges"], pa.string()))
    pq.write_table(table, paths.data)
    monkeypatch.setenv("MLOPS_PUSHGATEWAY_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    broken, lines = check(paths.config)
    assert broken.exit_code == 2, broken.output  # a data error outranks an unreachable service
    assert lines["churn columns"].startswith("FAIL ")
    assert "'tenure'" in lines["churn columns"] and "'monthly_charges' was numeric at training" in lines["churn columns"]
    assert lines["pushgateway"].startswith("FAIL ") and "unreachable" in lines["pushgateway"]

    # Only the unreachable services left: exit 1, worth a retry.
    write_demo(tmp_path, END)  # the data and config as they were
    moved = paths.config.read_text().replace("${MLOPS_DEMO_TRACKING_URI:-sqlite:///.mlops/mlflow.db}",
                                             f"http://127.0.0.1:{free_port()}")
    paths.config.write_text(moved)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    unreachable, lines = check(paths.config)
    assert unreachable.exit_code == 1, unreachable.output
    assert lines["tracking"].startswith("FAIL ") and lines["churn source"].startswith("ok ")
    assert "churn production profile" not in lines  # nothing to read it from
