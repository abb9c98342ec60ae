"""Faults of the services around the jobs, on the real stack: hung or unresolvable databases, a
hung MLflow, overlapping predict runs, a broken Pushgateway, a lost artifact under --all."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from adbc_driver_postgresql import dbapi

from faults.harness import Stack, outage, pause, release, run, start, wait_paused, write_config
from faults.proxy import FaultProxy

AS_OF = ("--as-of", "2026-11-01")
PREDICT_DAY = "2026-11-23"


@pytest.fixture(scope="module")
def trained(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two models with a production version each, for the jobs that need one."""
    folder = tmp_path_factory.mktemp("trained")
    config = write_config(stack, folder, ["alpha", "beta"])
    result = run(config, "retrain", "--all", *AS_OF, "--run-key", "base")
    assert result.returncode == 0, result.stderr
    return config


def one_line_error(stderr: str, model: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert errors and errors[0].startswith(f"error: {model}: "), stderr
    return errors[0]


def test_hung_features_database_fails_the_job_fast_with_exit_1(stack: Stack, tmp_path: Path) -> None:
    config = write_config(stack, tmp_path, ["hung"])
    with outage(stack.database, "hang"):
        started = time.monotonic()
        result = run(config, "retrain", "--model", "hung", *AS_OF)
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    # Bounded by the config's timeouts (3 s connect, 30 s statement); without them the job waits
    # forever. The rest is the process's own start, which a loaded 2-core machine stretches.
    assert elapsed < 120, elapsed
    assert "s3cr3t" not in result.stderr
    one_line_error(result.stderr, "hung")


def test_sigterm_stops_a_job_blocked_on_a_hung_database(stack: Stack, tmp_path: Path) -> None:
    slow = {"connect_seconds": 300, "request_seconds": 10, "request_retries": 1, "statement_seconds": 300}
    config = write_config(stack, tmp_path, ["blocked"], timeouts=slow)
    with outage(stack.database, "hang"):
        proc = start(config, "retrain", "--model", "blocked", *AS_OF,
                     faults=[pause(tmp_path, "loading", "mlops.data.postgres:within", when="before")])
        wait_paused(tmp_path, "loading", proc)
        release(tmp_path, "loading")
        time.sleep(3)  # now inside libpq's connect, which only a signal-aware wait can leave
        assert proc.poll() is None
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert time.monotonic() - stopped < 10


def test_unresolvable_database_host_exits_1(stack: Stack, tmp_path: Path) -> None:
    uri = stack.postgres.uri().replace("127.0.0.1", "features-db.invalid")
    result = run(write_config(stack, tmp_path, ["nodns"], source_uri=uri), "retrain", "--model", "nodns", *AS_OF)
    assert result.returncode == 1, result.stderr
    assert "s3cr3t" not in result.stderr
    one_line_error(result.stderr, "nodns")


def test_hung_mlflow_fails_the_job_with_exit_1_within_a_minute(stack: Stack, tmp_path: Path) -> None:
    config = write_config(stack, tmp_path, ["stall"], timeouts={"connect_seconds": 3, "request_seconds": 5,
                                                                "request_retries": 1, "statement_seconds": 30})
    with outage(stack.mlflow, "hang"):
        started = time.monotonic()
        result = run(config, "retrain", "--model", "stall", *AS_OF)
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert elapsed < 60, elapsed


def test_overlapping_predict_runs_write_the_day_once(stack: Stack, trained: Path, tmp_path: Path) -> None:
    faults = [pause(tmp_path, "writing", "mlops.jobs.predict:replace_partition")]
    first = start(trained, "predict", "--model", "alpha", "--as-of", PREDICT_DAY, faults=faults)
    wait_paused(tmp_path, "writing", first)
    (tmp_path / "writing.paused").unlink()
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = start(trained, "predict", "--model", "alpha", "--as-of", PREDICT_DAY,
                   faults=[pause(second_dir, "writing", "mlops.jobs.predict:replace_partition")])
    wait_paused(second_dir, "writing", second)
    release(tmp_path, "writing")
    release(second_dir, "writing")  # both now delete-then-append the same day at once
    for proc in (first, second):
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    scored = int(out.split(" scored ")[1].split()[0])
    with dbapi.connect(stack.postgres.uri()) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT customer_id) FROM alpha_predictions WHERE as_of = DATE '2026-11-23'")
        total, distinct = cursor.fetchone()
    assert scored > 0 and total == distinct == scored


def test_pushgateway_failures_never_change_the_exit_code(stack: Stack, trained: Path) -> None:
    garbage = FaultProxy(1)
    garbage.set("garbage")
    try:
        for url in (garbage.url, "http://[::1", "not a url at all"):
            ok = run(trained, "retrain", "--model", "alpha", *AS_OF, "--run-key", "base", MLOPS_PUSHGATEWAY_URL=url)
            assert ok.returncode == 0, (url, ok.stderr)
            assert "could not push metrics" in ok.stderr
        bad = run(trained, "retrain", "--model", "nosuchmodel", MLOPS_PUSHGATEWAY_URL=garbage.url)
        assert bad.returncode == 2, bad.stderr
    finally:
        garbage.close()


def test_drift_check_json_against_a_server_is_json_only(stack: Stack, trained: Path) -> None:
    result = run(trained, "drift-check", "--all", "--as-of", PREDICT_DAY, "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [json.loads(line)["model"] for line in lines] == ["alpha", "beta"]


def test_all_models_are_attempted_when_one_lost_its_baseline(stack: Stack, trained: Path) -> None:
    production = stack.client.get_model_version_by_alias("beta", "production")
    s3 = stack.s3_direct.client()
    listed = s3.list_objects_v2(Bucket=stack.bucket)["Contents"]
    [lost] = [o["Key"] for o in listed if production.run_id in o["Key"] and o["Key"].endswith("baseline/profile.json")]
    s3.delete_object(Bucket=stack.bucket, Key=lost)
    result = run(trained, "drift-check", "--all", "--as-of", PREDICT_DAY, "--json")
    assert result.returncode == 2, result.stderr
    assert json.loads(result.stdout.strip())["model"] == "alpha"
    assert "profile.json" in one_line_error(result.stderr, "beta")
