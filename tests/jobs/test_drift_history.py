"""drift-history and the report's trend lines, on the embedded store after a real retrain and a
few daily drift checks (one of them a backfill); the read-only SQLite reader against MLflow's."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlops.cli import main
from mlops.config import load_config
from mlops.jobs.demo import write_demo
from mlops.jobs.drift_check import drift_check
from mlops.jobs.drift_history import drift_history, table
from mlops.jobs.retrain import retrain
from mlops.tracking import Tracking
from mlops.tracking.reader import KNOWN_SCHEMAS, SqliteReader, open_reader

from conftest import END, read_artifact, store_client

DAYS = [END - timedelta(days=d) for d in (3, 2, 1, 0)]


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    paths = write_demo(tmp_path_factory.mktemp("history"), END)
    config = load_config(paths.config, environ={})
    model = config.models[0]
    assert retrain(config, model, END - timedelta(days=40), run_key="base").outcome == "promoted"
    results = [drift_check(config, model, day) for day in DAYS]
    backfill = drift_check(config, model, END - timedelta(days=6))  # older than the newest check
    again = drift_check(config, model, DAYS[-1])  # the newest day checked twice
    return {"config": config, "paths": paths, "results": results, "backfill": backfill, "again": again,
            "client": store_client(config.tracking.uri)}


def test_history_has_one_point_per_day_with_backfills_and_versions(checked: dict[str, Any]) -> None:
    config = checked["config"]
    reader = open_reader(config.tracking)
    assert isinstance(reader, SqliteReader)  # the fast path: no mlflow import
    points = drift_history(config, reader, "churn", days=30, now=END + timedelta(hours=1))
    assert [p.as_of for p in points] == ["2026-11-17", "2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"]
    assert [p.backfill for p in points] == [True, False, False, False, False]
    assert points[-1].run_id == checked["again"].run_id and points[-1].reruns == 1
    assert all(p.version == "1" for p in points)
    newest = checked["again"].report
    assert points[-1].drift_share == pytest.approx(newest.drift_share)
    assert {f.drift.name for f in newest.features if f.drifted} == {k for k, v in points[-1].drifted.items() if v}
    assert points[-1].effects["support_calls"] == pytest.approx(next(f.drift.effect for f in newest.features
                                                                     if f.drift.name == "support_calls"))
    # --days counts back from now by the day checked, not by when the run started.
    assert [p.as_of for p in drift_history(config, reader, "churn", days=2, now=END + timedelta(hours=1))] == [
        "2026-11-22", "2026-11-23"]
    # The MLflow client answers the same (the path taken for any store the reader does not know).
    tracking = Tracking(config.tracking)
    assert drift_history(config, tracking, "churn", days=30, now=END + timedelta(hours=1)) == points


def test_text_table_fits_in_100_columns_and_marks_drift(checked: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["--config", str(checked["paths"].config), "drift-history", "--model", "churn",
                                       "--days", "3650"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 100 for line in lines)
    support = next(line for line in lines if line.startswith("support_calls"))
    assert support.count("*") == 5  # drifted on every day checked
    assert not next(line for line in lines if line.startswith("contract")).count("*")
    assert "B" in next(line for line in lines if line.startswith("backfill"))
    assert "was checked 2 times" in result.output
    narrow = table(drift_history(checked["config"], Tracking(checked["config"].tracking), "churn", 3650), width=40)
    assert all(len(line) <= 40 for line in narrow) and "older checks not shown" in " ".join(narrow)
    assert len(narrow[0].split()) < 5  # only the newest days that fit

    as_json = CliRunner().invoke(main, ["--config", str(checked["paths"].config), "drift-history", "--model", "churn",
                                        "--days", "3650", "--json"])
    rows = [json.loads(line) for line in as_json.output.splitlines()]
    assert [r["backfill"] for r in rows] == [True, False, False, False, False]
    assert rows[-1]["features"]["monthly_charges"]["drifted"] is True


def test_monitoring_runs_chart_by_the_day_checked(checked: dict[str, Any]) -> None:
    client = checked["client"]
    run = client.get_run(checked["backfill"].run_id)
    assert run.info.run_name == "drift-check-20261117" and run.data.tags["as_of"] == "2026-11-17"
    history = client.get_metric_history(run.info.run_id, "drift_share")
    assert history[0].timestamp == int(datetime(2026, 11, 17, tzinfo=UTC).timestamp() * 1000)
    assert history[0].step == int(datetime(2026, 11, 17, tzinfo=UTC).timestamp() // 86400)


def test_the_report_draws_each_features_trend(checked: dict[str, Any]) -> None:
    client = checked["client"]
    first = read_artifact(client, checked["results"][0].run_id, "drift_report.html")
    assert '<svg class="trend"' not in first  # nothing earlier to draw against (the backfill came later)
    page = read_artifact(client, checked["again"].run_id, "drift_report.html")
    assert page.count('<svg class="trend"') == 6 and "effect over the last" in page
    line = re.search(r'<svg class="trend".*?</svg>', page)
    assert line and line.group(0).count("<circle") >= 4 and "stroke-dasharray" in line.group(0)  # points and the floor
    data = json.loads(read_artifact(client, checked["again"].run_id, "drift_report.json"))
    series = data["trends"]["support_calls"]
    assert series[-1]["current"] and [p["as_of"] for p in series[:-1]] == ["2026-11-17", "2026-11-20", "2026-11-21",
                                                                          "2026-11-22"]
    for external in ("<script", "<link", "src=", "https://"):
        assert external not in page


def test_the_reader_knows_the_pinned_mlflow_schema(tmp_path: Path) -> None:
    """The SQLite reader reads MLflow's tables only at a schema it was written for: MLflow's head."""
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    head = ScriptDirectory.from_config(_get_alembic_config("sqlite:///" + str(tmp_path / "x.db"))).get_current_head()
    assert head in KNOWN_SCHEMAS
