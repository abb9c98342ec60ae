"""The deployed contract: `mlops` as a real subprocess, its exit codes and its one-line errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from mlops.cli import main
from mlops.jobs.demo import write_demo

from conftest import END, store_client
from services import PG_PASSWORD, Postgres, free_port


def mlops(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlops", *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return write_demo(tmp_path, END).config


def test_retrain_succeeds_then_resumes_the_same_key(demo: Path, subprocess_env: dict[str, str]) -> None:
    first = mlops("--config", str(demo), "retrain", "--model", "churn", "--as-of", "2026-11-23", env=subprocess_env)
    assert first.returncode == 0, first.stderr
    assert "churn: v1 promoted" in first.stdout
    again = mlops("--config", str(demo), "retrain", "--all", "--as-of", "2026-11-23", env=subprocess_env)
    assert again.returncode == 0 and "v1 promoted (resumed" in again.stdout, again.stderr
    status = CliRunner().invoke(main, ["--config", str(demo), "status", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)[0]["production"]["version"] == "1"


def test_bad_config_exits_2_with_one_line(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models:\n  - name: churn\n    source: {uri: x.parquet}\n    target: y\n    promotion: {compare_metric: speed}\n")
    result = mlops("--config", str(path), "retrain", "--model", "churn", env=subprocess_env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "models[0].promotion.compare_metric: Value error" not in result.stderr
    assert "models[0].promotion.compare_metric: unknown metric 'speed'" in result.stderr


def test_usage_errors_exit_2(demo: Path, subprocess_env: dict[str, str]) -> None:
    assert mlops("--config", str(demo), "retrain", "--model", "nope", env=subprocess_env).returncode == 2
    assert mlops("--config", str(demo), "retrain", env=subprocess_env).returncode == 2
    assert mlops("--config", str(demo), "retrain", "--shard", "5/2", env=subprocess_env).returncode == 2
    assert mlops("--config", str(demo), "retrain", "--shard", "/2", env=subprocess_env).returncode == 2  # no JOB_COMPLETION_INDEX
    no_prod = mlops("--config", str(demo), "rollback", "--model", "churn", env=subprocess_env)
    assert no_prod.returncode == 2 and "no production version" in no_prod.stderr


def test_unreachable_tracking_server_exits_1(demo: Path, subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "MLOPS_DEMO_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
           "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    result = mlops("--config", str(demo), "retrain", "--model", "churn", env=env)
    assert result.returncode == 1, result.stderr
    assert "unreachable" in result.stderr and result.stderr.startswith("error: churn: ")


def test_bad_database_password_exits_2_without_printing_it(
    tmp_path: Path, postgres: Postgres, subprocess_env: dict[str, str]
) -> None:
    config = tmp_path / "pg.yaml"
    config.write_text(textwrap.dedent("""\
        models:
          - name: churn
            source:
              uri: ${DATABASE_URI}
              table: churn_rows
              timestamp_column: event_time
            target: churned
        """))
    wrong = postgres.uri(password="Wr0ng-pa55word")
    result = mlops("--config", str(config), "retrain", "--model", "churn", env={**subprocess_env, "DATABASE_URI": wrong})
    assert result.returncode == 2, result.stderr
    assert "authentication failed" in result.stderr
    assert "Wr0ng-pa55word" not in result.stderr + result.stdout
    checked = mlops("--config", str(config), "config", "check", env={**subprocess_env, "DATABASE_URI": postgres.uri()})
    assert checked.returncode == 0 and PG_PASSWORD not in checked.stdout and "mlops:***@" in checked.stdout


def test_retrain_from_postgres(tmp_path: Path, postgres: Postgres, subprocess_env: dict[str, str]) -> None:
    from adbc_driver_postgresql import dbapi

    paths = write_demo(tmp_path, END)
    with dbapi.connect(postgres.uri()) as conn, conn.cursor() as cur:
        cur.adbc_ingest("churn_features", pq.read_table(paths.data), mode="replace")
        conn.commit()
    text = paths.config.read_text().replace("uri: ./data/churn.parquet", "uri: ${DATABASE_URI}\n      table: churn_features")
    paths.config.write_text(text)
    result = mlops("--config", str(paths.config), "retrain", "--shard", "/1", "--as-of", "2026-11-23",
                   env={**subprocess_env, "DATABASE_URI": postgres.uri(), "JOB_COMPLETION_INDEX": "0"})
    assert result.returncode == 0, result.stderr
    assert "churn: v1 promoted" in result.stdout
    run = store_client(f"sqlite:///{tmp_path}/.mlops/mlflow.db").search_runs(["1"])[0]
    assert run.data.tags["data.source"] == postgres.uri(password="***")
    assert run.data.tags["data.table"] == "churn_features"


def test_sigterm_marks_the_run_killed_and_exits_143(demo: Path, subprocess_env: dict[str, str]) -> None:
    text = demo.read_text().replace("n_estimators: 150", "n_estimators: 100000")
    demo.write_text(text)
    proc = subprocess.Popen([sys.executable, "-m", "mlops", "--config", str(demo), "retrain", "--model", "churn"],
                            env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    # The job logs the loaded rows right before a million boosting rounds: a signal now lands mid-training.
    for line in proc.stderr:
        seen.append(line)
        if "loaded" in line and "holdout" in line:
            break
    else:
        pytest.fail("the job ended before training: " + "".join(seen))
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 143, rest
    assert "stopped by SIGTERM" in rest
    client = store_client(f"sqlite:///{demo.parent}/.mlops/mlflow.db")
    [run] = client.search_runs(["1"])
    assert run.info.status == "KILLED"
    assert not client.search_registered_models()
