"""drift-check end to end on the embedded SQLite store, after a real retrain."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from mlops.cli import main
from mlops.errors import DataError
from mlops.jobs.drift_check import NoProduction, drift_check

from conftest import END, read_artifact, trained_demo

BEFORE_SHIFT = END - timedelta(days=28)
TRAINED_AT = BEFORE_SHIFT - timedelta(days=7)  # so the undrifted window holds rows the model never saw


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return trained_demo(tmp_path_factory.mktemp("drift"), TRAINED_AT)


def test_undrifted_window_needs_no_retrain(trained: dict[str, Any]) -> None:
    config = trained["config"]
    result = drift_check(config, config.models[0], BEFORE_SHIFT)
    assert result.report.outcome == "no drift", result.report.reasons
    assert not result.report.retrain_needed and result.report.drift_share < 0.3
    assert result.report.prediction is not None and not result.report.prediction_drifted
    assert result.report.rows > 900  # a week of the demo's 150 rows a day, none of them training rows


def test_training_rows_are_left_out_of_the_window(trained: dict[str, Any]) -> None:
    config = trained["config"]
    # Time split: the model trained on rows before its holdout began (about 24 days before
    # TRAINED_AT); a 21-day window ending 20 days before TRAINED_AT holds ~17 days of them.
    result = drift_check(config, config.models[0], TRAINED_AT - timedelta(days=20))
    assert 450 < result.report.rows < 750
    assert any("left out" in q and "training data" in q for q in result.report.quality)
    # Right after the retrain the window lies in the holdout, which the model never trained on.
    fresh = drift_check(config, config.models[0], TRAINED_AT + timedelta(days=3))
    assert fresh.report.rows > 2500 and not any("left out" in q for q in fresh.report.quality)


def test_many_small_batches_report_what_one_batch_does(trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops.training.pyfunc_model import LabelledBooster

    scored: list[int] = []
    predict_proba = LabelledBooster.predict_proba

    def counted(self: LabelledBooster, data: Any) -> Any:  # a spy: the real scoring, its rows counted
        scored.append(len(data))
        return predict_proba(self, data)

    monkeypatch.setattr(LabelledBooster, "predict_proba", counted)
    config = trained["config"]
    as_of = TRAINED_AT - timedelta(days=20)  # training rows to leave out, labels, a calm week
    whole = drift_check(config, config.models[0], as_of)
    assert len(scored) == 1 and scored[0] == whole.report.rows  # the window is scored once
    scored.clear()
    parts = drift_check(config, config.models[0], as_of, batch_rows=37)
    assert len(scored) > 10 and sum(scored) == parts.report.rows == whole.report.rows
    assert parts.report.performance is not None and parts.report.performance.rows > 200
    one, many = whole.report.to_dict(histograms=True), parts.report.to_dict(histograms=True)
    assert json.dumps(many, sort_keys=True) == json.dumps(one, sort_keys=True)
    assert parts.window_rows == whole.window_rows > whole.report.rows  # read rows include the training rows left out
    assert parts.newest_row == whole.newest_row and whole.newest_row is not None
    assert as_of - timedelta(days=1) < whole.newest_row < as_of


def test_drifted_window_needs_retrain_and_reports_it(trained: dict[str, Any]) -> None:
    config, client = trained["config"], trained["client"]
    result = drift_check(config, config.models[0], END)
    report = result.report
    assert report.retrain_needed and report.outcome == "drift"
    drifted = {f.drift.name for f in report.features if f.drifted}
    assert {"monthly_charges", "support_calls"} <= drifted
    assert "region" not in drifted and "contract" not in drifted
    assert any("features drifted" in r for r in report.reasons)

    run = client.get_run(result.run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "mlops-demo/churn/monitoring"
    assert run.info.status == "FINISHED" and run.data.tags["retrain_needed"] == "true"
    assert run.data.metrics["drifted.monthly_charges"] == 1.0 and run.data.metrics["drift_share"] == report.drift_share
    assert 0 <= run.data.metrics["p_adjusted.region"] <= 1

    data = json.loads(read_artifact(client, result.run_id, "drift_report.json"))
    assert data["retrain_needed"] and data["version"] == "1"
    assert "NaN" not in read_artifact(client, result.run_id, "drift_report.json")
    page = read_artifact(client, result.run_id, "drift_report.html")
    assert page.index("<h2>Features</h2>") < page.index("<h2>Distributions</h2>")
    assert page.count("<svg") - page.count('<svg class="trend"') == 7  # six features and the prediction scores
    for external in ("<script", "<link", "src=", "url(", "@import", "https://"):
        assert external not in page

    tags = client.get_model_version("churn", "1").tags
    assert tags["last_drift_share"] == f"{report.drift_share:.4f}" and "last_drift_check_at" in tags
    assert tags["last_drift_as_of"] == END.isoformat() and tags["last_drift_outcome"] == "drift"
    assert run.data.metrics["effect.monthly_charges"] >= 0.1 and run.data.metrics["rows"] == report.rows


def test_backfill_keeps_the_live_status_and_gauges(trained: dict[str, Any]) -> None:
    from mlops.jobs.observe import drift_metrics
    from mlops.metrics import JobMetrics

    config, client = trained["config"], trained["client"]
    live = drift_check(config, config.models[0], END)
    before = client.get_model_version("churn", "1").tags
    assert before["last_drift_outcome"] == "drift" and not live.backfill
    old = drift_check(config, config.models[0], BEFORE_SHIFT)  # a backfill of a calm week
    assert old.backfill and old.report.outcome == "no drift"
    after = client.get_model_version("churn", "1").tags
    assert {k: after[k] for k in before if k.startswith("last_drift")} == {k: before[k] for k in before if k.startswith("last_drift")}
    assert client.get_run(old.run_id).data.tags["backfill"] == "true"  # the monitoring run is still logged
    gauges = JobMetrics("drift-check", "churn")
    drift_metrics(gauges, old)
    assert gauges.values == {} and gauges.labelled == {}
    drift_metrics(gauges, live)
    assert gauges.values["mlops_retrain_needed"] == 1.0 and gauges.values["mlops_drift_insufficient_data"] == 0.0


def test_too_few_rows_is_insufficient_data_not_drift(trained: dict[str, Any]) -> None:
    config = trained["config"]
    model = config.models[0]
    strict = model.model_copy(update={"drift": model.drift.model_copy(update={"min_rows": 1_000_000})})
    result = drift_check(config, strict, END)
    assert result.report.outcome == "insufficient data" and not result.report.retrain_needed
    # An outage is alertable: the row count and the outcome are gauges, and the run has the metric.
    from mlops.jobs.observe import drift_metrics
    from mlops.metrics import JobMetrics

    gauges = JobMetrics("drift-check", "churn")
    drift_metrics(gauges, result)
    assert gauges.values["mlops_drift_insufficient_data"] == 1.0
    assert gauges.values["mlops_drift_window_rows"] == result.report.rows > 0
    run = trained["client"].get_run(result.run_id)
    assert run.data.metrics["insufficient_data"] == 1.0 and run.data.metrics["rows"] == result.report.rows
    page = read_artifact(trained["client"], result.run_id, "drift_report.html")
    assert 'class="neutral"' in page and 'class="ok"' not in page.split("<h2>")[0]


def test_unknown_profile_version_is_refused(trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops.tracking import Tracking

    config = trained["config"]
    original = Tracking.load_json

    def old_profile(self: Tracking, run_id: str, path: str) -> dict[str, Any]:
        return {**original(self, run_id, path), "version": 1}

    monkeypatch.setattr(Tracking, "load_json", old_profile)
    with pytest.raises(DataError, match="baseline profile version 1 is not supported"):
        drift_check(config, config.models[0], END)
    result = CliRunner().invoke(main, ["--config", str(trained["paths"].config), "drift-check", "--model", "churn",
                                       "--as-of", END.strftime("%Y-%m-%d")])
    assert result.exit_code == 2 and "profile version 1" in result.output


def test_missing_feature_column_is_a_data_error(trained: dict[str, Any], tmp_path: Path) -> None:
    config = trained["config"]
    table = pq.read_table(trained["paths"].data).drop_columns(["plan"])
    pq.write_table(table, tmp_path / "no_plan.parquet")
    model = config.models[0]
    broken = model.model_copy(update={"source": model.source.model_copy(update={"uri": str(tmp_path / "no_plan.parquet")})})
    with pytest.raises(DataError, match="lacks feature column 'plan'"):
        drift_check(config, broken, END)


def test_no_production_model_is_an_outcome_not_a_failure(trained: dict[str, Any]) -> None:
    config = trained["config"]
    other = config.models[0].model_copy(update={"name": "nobody"})
    result = drift_check(config, other, END)
    assert isinstance(result, NoProduction) and result.summary()["outcome"] == "no production model"


def test_cli_fail_on_drift_exits_3_and_inline_trigger_retrains(trained: dict[str, Any]) -> None:
    config_path = str(trained["paths"].config)
    calm = CliRunner().invoke(main, ["--config", config_path, "drift-check", "--model", "churn", "--as-of",
                                     BEFORE_SHIFT.strftime("%Y-%m-%d"), "--fail-on-drift"])
    assert calm.exit_code == 0, calm.output
    drifted = CliRunner().invoke(main, ["--config", config_path, "drift-check", "--all", "--as-of", END.strftime("%Y-%m-%d"),
                                        "--fail-on-drift", "--trigger-retrain", "inline", "--json"])
    assert drifted.exit_code == 3, drifted.output
    summary = json.loads(drifted.output.strip().splitlines()[-1])
    assert summary["retrain_needed"] and summary["triggered"].startswith("inline retrain: v2")
    version = trained["client"].get_model_version("churn", "2")
    assert version.tags["run_key"] == f"drift:{END:%Y-%m-%d}"
