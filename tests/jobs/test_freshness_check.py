"""Stale data and volume anomalies found by a real drift check, logged to MLflow and pushed to a
real Pushgateway, without setting retrain_needed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from mlops.jobs.demo import ROWS_PER_DAY
from mlops.jobs.drift_check import DriftResult, drift_check
from mlops.jobs.observe import drift_metrics
from mlops.metrics import JobMetrics, push

from conftest import END, read_artifact, trained_demo

TRAINED_AT = END - timedelta(days=30)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return trained_demo(tmp_path_factory.mktemp("fresh"), TRAINED_AT)


def test_retrain_logs_the_baseline_daily_rate(trained: dict[str, Any]) -> None:
    rate = trained["client"].get_run(trained["run_id"]).data.metrics["rows_per_day"]
    assert 0.9 * ROWS_PER_DAY < rate < 1.1 * ROWS_PER_DAY


def test_a_duplicated_load_is_a_volume_anomaly_and_alertable(trained: dict[str, Any], pushgateway_url: str) -> None:
    config, data = trained["config"], trained["paths"].data
    table = pq.read_table(data)
    recent = table.filter(pc.greater_equal(table["event_time"], pa.scalar(END - timedelta(days=21), table["event_time"].type)))
    pq.write_table(pa.concat_tables([table, recent, recent, recent]), data)  # the last 3 weeks loaded four times
    try:
        result = drift_check(config, config.models[0], END)
    finally:
        pq.write_table(table, data)
    assert isinstance(result, DriftResult) and result.freshness is not None
    assert result.freshness.volume_anomaly and 3.5 < (result.freshness.volume_ratio or 0) < 4.5
    assert not result.freshness.stale
    # Not a reason to retrain: the verdict is the drift rule's alone (the duplicated rows drift no feature).
    assert result.report.retrain_needed == (result.report.drift_share >= config.models[0].drift.max_drift_share
                                            or result.report.outcome == "drift")
    assert not any("volume" in r for r in result.report.reasons)

    metrics = JobMetrics("drift-check", "fresh-test")
    drift_metrics(metrics, result)
    assert metrics.values["mlops_volume_anomaly"] == 1.0 and metrics.values["mlops_data_stale"] == 0.0
    assert push(metrics, pushgateway_url)
    import urllib.request

    text = urllib.request.urlopen(pushgateway_url + "/metrics", timeout=5).read().decode()  # noqa: S310 - loopback
    assert 'mlops_volume_anomaly{instance="",job="mlops-drift-check",model="fresh-test"} 1' in text


def test_a_feed_that_stopped_is_stale_data_not_drift(trained: dict[str, Any]) -> None:
    config = trained["config"]
    result = drift_check(config, config.models[0], END + timedelta(days=3))  # the data ends at END
    assert isinstance(result, DriftResult) and result.freshness is not None
    assert result.freshness.stale and 72 <= (result.freshness.staleness_hours or 0) <= 73
    assert "stale data" in result.summary()["freshness"]["findings"][0]
    run = trained["client"].get_run(result.run_id)
    assert run.data.metrics["freshness.stale"] == 1.0 and run.data.tags["data_findings"] == "stale data"
    assert "<li>stale data: newest row is 72." in read_artifact(trained["client"], result.run_id, "drift_report.html")
    fresh = drift_check(config, config.models[0], END)
    assert isinstance(fresh, DriftResult) and fresh.freshness is not None
    assert not fresh.freshness.stale and not fresh.freshness.volume_anomaly and fresh.freshness.findings == []
