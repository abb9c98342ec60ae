"""Logs for machines: with --log-format json every stderr line of a real job process is one JSON
object (MLflow's and alembic's own lines included) carrying job/model/version/run_id/outcome."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from mlops.jobs.demo import write_demo
from mlops.logs import JsonFormatter, TextFormatter, log_fields

from conftest import END, without_predictions


def test_every_stderr_line_of_a_job_is_json_with_its_fields(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    config = without_predictions(write_demo(tmp_path, END).config)
    lines: list[str] = []
    for args in (["retrain", "--model", "churn", "--as-of", "2026-11-23"],  # a fresh SQLite store: alembic migrates it
                 ["predict", "--model", "churn"]):  # the demo config has no predictions section: an error line
        result = subprocess.run([sys.executable, "-m", "mlops", "--log-format", "json", "--verbose", "--config", str(config),
                                 *args], capture_output=True, text=True, env=subprocess_env, timeout=300)
        lines += result.stderr.splitlines()
    records = [json.loads(line) for line in lines]  # fails on the first line that is not JSON
    assert len(records) > 5 and any(r["logger"].startswith(("alembic", "mlflow")) for r in records)
    decided = [r for r in records if r.get("outcome") == "promoted"]
    assert decided and decided[0]["job"] == "retrain" and decided[0]["model"] == "churn"
    assert decided[0]["version"] == "1" and len(decided[0]["run_id"]) == 32
    [failed] = [r for r in records if r.get("outcome") == "failed"]
    assert failed["job"] == "predict" and failed["message"].startswith("error: churn: ") and "exception" in failed


def test_text_lines_are_utc_with_their_zone_and_fields() -> None:
    record = logging.LogRecord("mlops.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.created = 1_764_000_000.5
    with log_fields(job="retrain", model="churn"):
        text = TextFormatter().format(record)
        entry = json.loads(JsonFormatter().format(record))
    assert text == "2025-11-24T16:00:00.500Z INFO mlops.x: hello you [model=churn]"
    assert entry["time"] == "2025-11-24T16:00:00.500+00:00" and entry["job"] == "retrain" and entry["model"] == "churn"
